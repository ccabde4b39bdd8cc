"""Import of the region PAY platform's CSV files (``../shared/interfaces/regionpay-exchange.md``).

How a file goes in, in one transaction of its own:

1. The header is read in Python: it names the file's kind and maps the (free-order,
   case-insensitive) columns; a missing column stops the file at line 1.
2. The rest of the file is streamed, in chunks and in constant memory, through PostgreSQL ``COPY``
   into a temporary all-text staging table whose identity column numbers the records in file order.
3. One ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` casts, guards and merges the records on
   their key. Casts, the tables' constraints and a few guards refuse any bad record; then one
   set-based query runs every check (formats, signs, unknown coupons and stores) to name the lines
   and columns, and the file's transaction is rolled back: nothing of that file is imported.
4. When not every record was new, one more query tells the unchanged from the conflicts (a key
   seen before with different content): conflicts are reported and never overwrite.

Large files of new, valid movements take a faster road first (``direct``: COPY straight into the
ledger; ``bulk``, for the first load of an empty ledger: in parallel into a new table swapped in at
the end) and fall back to the staging path at the first doubt, so the outcome is the same.

Files given together are taken in dependency order (stores, coupons, movements, store sales).

The package: ``kinds`` (columns, keys, the SQL of every rule), ``reading`` (header and bytes),
``staging`` and ``direct`` (the two roads into the tables), ``results`` (what is reported).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from django.db import connection, transaction
from psycopg import errors as pg_errors

from coupons.services.importing import bulk, direct
from coupons.services.importing.kinds import COUPONS, KINDS, MOVEMENTS, STORE_SALES, STORES, FileKind
from coupons.services.importing.reading import (
    _copy_error,
    _Header,
    _read_header,
    _utf8_chunks,
    read_header_line,
    refuse_end_marker,
)
from coupons.services.importing.results import (
    MAX_REPORTED_ERRORS,
    FileResult,
    ImportFileError,
    ImportOutcome,
    Progress,
    RowError,
)
from coupons.services.importing.staging import _merge, _stage_sql

__all__ = [
    "COUPONS",
    "KINDS",
    "MAX_REPORTED_ERRORS",
    "MOVEMENTS",
    "STORES",
    "STORE_SALES",
    "FileKind",
    "FileResult",
    "ImportFileError",
    "ImportOutcome",
    "Progress",
    "RowError",
    "file_kind",
    "regionpay_import",
]

logger = logging.getLogger(__name__)

ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "cp932": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
}


def _import_one(path: Path, encoding: str, progress: Progress | None) -> FileResult:
    name = path.name
    started = time.monotonic()
    size = path.stat().st_size
    with path.open("rb") as stream:
        header = _read_header(name, read_header_line(stream), encoding)
        body = stream.tell()
        take_direct = direct.direct_eligible(header, encoding, size)
        if bulk.bulk_eligible(header, encoding, size):
            try:
                rows = bulk.bulk_load(path, name, header, body, size, progress)
                return _all_new(name, header, rows, started, method="bulk")
            except bulk.NotBulk as exc:
                logger.info("import %s: not a bulk load (%s)", name, exc)
            except direct.NotDirect as exc:
                logger.info("import %s: staging path (%s)", name, exc)
                take_direct = False  # the direct path would doubt the same line
        if take_direct:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    rows = direct.copy_direct(cursor, stream, name, header, size, progress)
                return _all_new(name, header, rows, started, method="direct")
            except direct.NotDirect as exc:
                logger.info("import %s: staging path (%s)", name, exc)
                stream.seek(body)
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
                raise _copy_error(name, exc) from exc
            cursor.execute("SELECT count(*) FROM regionpay_stage")
            rows = cursor.fetchone()[0]
            if progress:
                progress(name, "merge", 0, rows)
            inserted, conflicts, examples = _merge(cursor, name, header, rows)
    return FileResult(
        file=name,
        kind=header.kind.name,
        rows=rows,
        inserted=inserted,
        unchanged=rows - inserted - conflicts,
        conflicts=conflicts,
        conflict_examples=examples,
        seconds=time.monotonic() - started,
    )


def _all_new(name: str, header: _Header, rows: int, started: float, *, method: str) -> FileResult:
    """The result of a fast path: every row of the file was new."""
    return FileResult(
        file=name,
        kind=header.kind.name,
        rows=rows,
        inserted=rows,
        unchanged=0,
        conflicts=0,
        seconds=time.monotonic() - started,
        method=method,
    )


def file_kind(path: Path, encoding: str = "utf-8") -> FileKind:
    with path.open("rb") as stream:
        return _read_header(path.name, read_header_line(stream), _encoding(encoding)).kind


def _encoding(encoding: str) -> str:
    try:
        return ENCODINGS[encoding.strip().lower()]
    except KeyError:
        raise ValueError(f"unsupported encoding {encoding!r}: use utf-8 or cp932") from None


def regionpay_import(
    *, paths: Sequence[Path], encoding: str = "utf-8", progress: Progress | None = None
) -> ImportOutcome:
    """Import platform files, each in its own transaction, in dependency order.

    The first file refused stops the import: nothing of it is imported, files before it stay
    imported (re-importing them later changes nothing), files after it are skipped.
    """
    encoding = _encoding(encoding)
    ordered: list[tuple[int, Path]] = []
    outcome = ImportOutcome(results=[])
    for path in paths:
        try:
            ordered.append((KINDS.index(file_kind(path, encoding)), path))
        except ImportFileError as exc:
            outcome.failed_file, outcome.errors, outcome.bad_rows = (
                path.name,
                exc.errors,
                exc.bad_rows,
            )
            outcome.skipped = [p.name for p in paths if p != path]
            return outcome
    ordered.sort(key=lambda item: item[0])
    for position, (_, path) in enumerate(ordered):
        try:
            outcome.results.append(_import_one(path, encoding, progress))
        except ImportFileError as exc:
            outcome.failed_file, outcome.errors, outcome.bad_rows = (
                path.name,
                exc.errors,
                exc.bad_rows,
            )
            outcome.skipped = [p.name for _, p in ordered[position + 1 :]]
            break
    return outcome
