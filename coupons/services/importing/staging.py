"""The staging path: COPY into a temporary all-text table, then one guarded INSERT ... SELECT."""

from __future__ import annotations

from typing import BinaryIO

from django.db import DataError as DjangoDataError
from django.db import IntegrityError as DjangoIntegrityError
from django.db import connection, transaction
from psycopg import errors as pg_errors

from coupons.services.importing.reading import (
    _copy_error,
    _Header,
    _utf8_chunks,
    refuse_end_marker,
    shape_errors,
)
from coupons.services.importing.results import MAX_REPORTED_ERRORS, ImportFileError, Progress, RowError
from coupons.services.ledger_changes import log_keys_sql


# --- the import ------------------------------------------------------------------------------------
def staging_load(
    stream: BinaryIO, name: str, header: _Header, encoding: str, size: int, progress: Progress | None
) -> tuple[int, int, int, list[RowError]]:
    """The staging road, start to end, in a transaction of its own (or a savepoint of the
    caller's): (rows, inserted, conflicts, conflict examples); a bad file raises ImportFileError
    naming its lines, with nothing of it kept."""
    create_sql, copy_sql = _stage_sql(header)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # ON COMMIT DROP does not fire when the caller's transaction is still open (a service
        # or a test around the import): drop a previous file's staging table explicitly.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.regionpay_stage")
        cursor.execute(create_sql)
        try:
            with cursor.copy(copy_sql) as copy:
                chunks = _utf8_chunks(stream, name, encoding, first_line=2, columns=header.names)
                for chunk in refuse_end_marker(chunks, name, first_line=2):
                    copy.write(chunk)
                    if progress:
                        progress(name, "copy", min(stream.tell(), size), size)
        except (pg_errors.DataError, pg_errors.BadCopyFileFormat) as exc:
            error = _copy_error(name, exc)
            if isinstance(exc, pg_errors.BadCopyFileFormat):  # a row of the wrong shape: find them all
                error = shape_errors(stream, name, encoding, len(header.names)) or error
            raise error from exc
        cursor.execute("SELECT count(*) FROM regionpay_stage")
        rows = cursor.fetchone()[0]
        if progress:
            progress(name, "merge", 0, rows)
        inserted, conflicts, examples = _merge(cursor, name, header, rows)
    return rows, inserted, conflicts, examples


def _stage_sql(header: _Header) -> tuple[str, str]:
    columns = ", ".join(f"f{i} text" for i in range(len(header.names)))
    create = (
        "CREATE TEMP TABLE regionpay_stage (line bigint GENERATED ALWAYS AS IDENTITY, "
        f"{columns}) ON COMMIT DROP"
    )
    copy = (
        f"COPY regionpay_stage ({', '.join(f'f{i}' for i in range(len(header.names)))}) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    return create, copy


def _row_sql(header: _Header) -> str:
    """The staging rows with the kind's column names: trimmed, '' as NULL, absent columns NULL."""
    position = {name: i for i, name in enumerate(header.names)}
    parts = ["s.line"]
    for column in header.kind.columns:
        source = f"nullif(btrim(s.f{position[column]}), '')" if column in position else "NULL::text"
        parts.append(f"{source} AS {column}")
    return f"SELECT {', '.join(parts)} FROM regionpay_stage s"


def _check_file(cursor, name: str, header: _Header) -> None:
    kind = header.kind
    problems = ", ".join(f"CASE WHEN {check.bad} THEN {index} END" for index, check in enumerate(kind.checks))
    joins = " ".join(kind.joins)
    cursor.execute(
        f"""
        WITH r AS ({_row_sql(header)}),
        bad AS (
          SELECT r.line, array_remove(ARRAY[{problems}], NULL) AS problems
          FROM r {joins}
        )
        SELECT line, problems, count(*) OVER () AS bad_rows
        FROM bad WHERE cardinality(problems) > 0
        ORDER BY line LIMIT {MAX_REPORTED_ERRORS}
        """
    )
    rows = cursor.fetchall()
    if not rows:
        return
    errors: list[RowError] = []
    for line, problems, _bad in rows:
        seen: set[str] = set()
        for index in problems:
            check = kind.checks[index]
            if check.column in seen:  # one message per cell is enough
                continue
            seen.add(check.column)
            errors.append(RowError(name, line + 1, check.column, check.message))
    raise ImportFileError(errors[:MAX_REPORTED_ERRORS], bad_rows=rows[0][2])


def _typed_rows(header: _Header) -> str:
    typed = ", ".join(f"{expr} AS {column}" for column, expr in header.kind.typed.items())
    return f"SELECT r.line, {typed} FROM ({_row_sql(header)}) r {' '.join(header.kind.joins)}"


def _merge(cursor, name: str, header: _Header, rows: int) -> tuple[int, int, list[RowError]]:
    """Insert the new records in one pass; return (inserted, conflicts, conflict examples).

    Optimistic: valid files (the normal case) are read once. When PostgreSQL refuses a record
    (a cast, a constraint, a guard), the savepoint is rolled back and the checks run to name
    every bad line and column.
    """
    kind = header.kind
    columns = ", ".join(kind.typed)
    typed_rows = _typed_rows(header)
    try:
        with transaction.atomic():
            insert = (
                f"INSERT INTO {kind.table} ({columns}) "
                # No ORDER BY: the staging table is read in file order, and a sort would spill.
                f"SELECT {columns} FROM ({typed_rows}) t "
                f"ON CONFLICT ({', '.join(kind.key)}) DO NOTHING"
            )
            if kind.change is None:
                cursor.execute(insert)
                inserted = cursor.rowcount
            else:
                # The new rows' coupons (or stores) go to the change log in the same statement.
                scope, key = kind.change
                cursor.execute(
                    f"WITH inserted AS ({insert} RETURNING {key}, occurred_at), "
                    f"logged AS ({log_keys_sql(scope, 'SELECT * FROM inserted')}) "
                    "SELECT count(*) FROM inserted"
                )
                inserted = cursor.fetchone()[0]
    except (
        pg_errors.DataError,
        pg_errors.IntegrityError,
        DjangoDataError,
        DjangoIntegrityError,
    ) as exc:
        _check_file(cursor, name, header)
        # The checks found nothing the database refused: say what the database said.
        cause = getattr(exc, "__cause__", None) or exc
        primary = getattr(getattr(cause, "diag", None), "message_primary", None) or str(exc)
        raise ImportFileError(
            [RowError(name, 0, "", f"PostgreSQL が取り込みを拒否しました: {primary}")]
        ) from exc
    if inserted == rows:  # every record was new: nothing can be unchanged or in conflict
        return inserted, 0, []
    return inserted, *_conflicts(cursor, name, header, typed_rows)


def _conflicts(cursor, name: str, header: _Header, typed_rows: str) -> tuple[int, list[RowError]]:
    kind = header.kind
    compared = [c for c in kind.typed if c not in kind.key]
    on = " AND ".join(f"x.{c} = t.{c}" for c in kind.key)
    differs = (
        f"ROW({', '.join('x.' + c for c in compared)}) IS DISTINCT FROM "
        f"ROW({', '.join('t.' + c for c in compared)})"
    )
    cursor.execute(
        f"""
        SELECT t.line, count(*) OVER ()
        FROM ({typed_rows}) t JOIN {kind.table} x ON {on}
        WHERE {differs}
        ORDER BY t.line LIMIT {MAX_REPORTED_ERRORS}
        """
    )
    rows = cursor.fetchall()
    if not rows:
        return 0, []
    message = "既に取り込んだ同じキーの記録と内容が違います（上書きしません）"
    return rows[0][1], [RowError(name, line + 1, ",".join(kind.key), message) for line, _ in rows]
