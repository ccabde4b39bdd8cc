"""The direct path: a large file of new, valid movements is copied straight into the ledger."""

from __future__ import annotations

import logging
from typing import BinaryIO

import re2
from django.db import connection, transaction
from psycopg import errors as pg_errors

from coupons.services.importing.reading import CHUNK_BYTES, _Header
from coupons.services.importing.results import HandOver, Progress, Road
from coupons.services.ledger_changes import ledger_changes_note_all

logger = logging.getLogger(__name__)


# --- the direct path for large files -----------------------------------------------------------
# A valid file of new movements is the normal case of a bulk load, and COPY into the table itself
# is several times faster than staging and INSERT ... SELECT (COPY writes the heap in batches). The
# direct path is tried first for large files and gives way to the staging path at the first doubt:
# any error of COPY (a cast, a constraint, a key seen before), a line whose timestamp lacks an
# offset, a quoted or padded field, or a new row with an unknown coupon or store. The staging path
# then does the whole file again, and decides, merges and explains as usual.
DIRECT_MIN_BYTES = 16 << 20
_ISO_WITH_OFFSET = rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)"


class NotDirect(Exception):
    """The file needs the staging path (raised inside this road and the bulk road's copiers, and
    turned into a :class:`HandOver` at their entry: it never leaves them)."""


def direct_load(
    stream: BinaryIO, name: str, header: _Header, size: int, progress: Progress | None
) -> int | HandOver:
    """The direct road, start to end, in a transaction of its own: the rows copied, or a hand-over
    to the staging road (the transaction rolled back: nothing of the file is in the ledger)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            return copy_direct(cursor, stream, name, header, size, progress)
    except NotDirect as exc:
        return HandOver(Road.STAGING, str(exc))


def direct_eligible(header: _Header, encoding: str, size: int) -> bool:
    kind = header.kind
    return (
        kind.direct is not None
        and encoding == "utf-8"
        and size >= DIRECT_MIN_BYTES
        and set(header.names) <= set(kind.columns)
        # The new rows are found by their transaction id, so the import must own its transaction.
        and not connection.in_atomic_block
    )


# A field the staging path would leave as it is: not quoted, no space at either end (or empty).
_PLAIN_FIELD = rb'(?:[^,\n" ](?:[^,\n"]*[^,\n" ])?)?'


def clean_lines(header: _Header) -> re2._Regexp:
    """Matches (whole) a block of lines that the direct path may copy as they are: every field
    plain (a quote or a padded value sends the file to staging, which reads and trims them), and
    the ``timestamp_column`` an ISO timestamp with an offset. RE2 runs it in linear time (a DFA,
    ~430 MB/s here, four times the re module's), on the importer's side of the COPY."""
    assert header.kind.direct is not None  # noqa: S101 - guarded by direct_eligible
    timestamp = header.kind.direct.timestamp_column
    fields = [_ISO_WITH_OFFSET if name == timestamp else _PLAIN_FIELD for name in header.names]
    options = re2.Options()
    options.max_mem = 64 << 20  # room for the DFA over 4 MiB blocks
    return re2.compile(rb"(?:" + rb",".join(fields) + rb"\r?\n)*", options)


def copy_sql(header: _Header, table: str) -> str:
    """COPY of the file's columns, in the file's order, into ``table``."""
    direct = header.kind.direct
    assert direct is not None  # noqa: S101 - guarded by direct_eligible
    not_null = [c for c in direct.not_null_text if c in header.names]
    options = "FORMAT csv" + (f", FORCE_NOT_NULL ({', '.join(not_null)})" if not_null else "")
    return f"COPY {table} ({', '.join(header.names)}) FROM STDIN WITH ({options})"


def checked_lines(lines_ok: re2._Regexp, carry: bytes, chunk: bytes, *, final: bool) -> bytes:
    """Check the whole lines of ``carry + chunk`` (all of it when ``final``); return the rest."""
    block = carry + chunk
    if not final:
        cut = block.rfind(b"\n") + 1
        block, carry = block[:cut], block[cut:]
    else:
        carry = b""
        if block and not block.endswith(b"\n"):
            block += b"\n"
    if block and lines_ok.fullmatch(block) is None:
        raise NotDirect("a timestamp without an offset, or a line too complex to check")
    return carry


def count_unknown(cursor, header: _Header, table: str, where: str) -> tuple[int, int]:
    """(rows, rows with an unknown coupon or store) of ``table`` matching ``where``."""
    direct = header.kind.direct
    assert direct is not None  # noqa: S101 - guarded by direct_eligible
    # Room for the coupons' hash table: at the default work_mem it spills, and 10M rows with it.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE {direct.unknown})
        FROM {table} m {" ".join(direct.joins)}
        WHERE {where}
        """
    )
    rows, unknown = cursor.fetchone()
    return rows, unknown


def copy_direct(
    cursor, stream: BinaryIO, name: str, header: _Header, size: int, progress: Progress | None
) -> int:
    """COPY the file into its table; return the rows copied, or raise NotDirect."""
    kind = header.kind
    lines_ok = clean_lines(header)
    carry = b""
    try:
        # psycopg's queued writer thread buys nothing measurable here (the server is the bottleneck)
        # and would buffer up to 128 MB: the plain writer keeps memory flat.
        with cursor.copy(copy_sql(header, kind.table)) as copy:
            while True:
                chunk = stream.read(CHUNK_BYTES)
                carry = checked_lines(lines_ok, carry, chunk, final=not chunk)
                if chunk:
                    copy.write(chunk)
                if progress:
                    progress(name, "copy", min(stream.tell(), size), size)
                if not chunk:
                    break
    except (pg_errors.DataError, pg_errors.IntegrityError, pg_errors.QueryCanceled) as exc:
        # Not the message: it may quote a value, and values stay out of logs.
        raise NotDirect(type(exc).__name__) from exc
    copied = cursor.rowcount
    new_rows, unknown = count_unknown(cursor, header, kind.table, "m.xmin = pg_current_xact_id()::xid")
    if new_rows != copied or unknown:
        raise NotDirect(f"{unknown} of {new_rows} rows name an unknown coupon or store (copied {copied})")
    ledger_changes_note_all()  # a large load: followers of the ledger start over
    return copied
