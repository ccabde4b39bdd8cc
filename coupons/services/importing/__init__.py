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

The road of a file (``choose_road``) is chosen once, up front, from what is known of the file and
the ledger: ``staging`` (above) for most files; ``direct`` (COPY straight into the ledger) for a
large file of movements; ``bulk`` (in parallel into a new table swapped in at the end) for the
first load of an empty ledger only. Each road runs start to end; a fast road that doubts the file
keeps nothing of it and hands it on, by a value (``HandOver``) rather than an exception, to the
road that decides (staging) — or, when only the swap failed, to ``direct`` — so the outcome is
the same whatever the road.

Files given together are taken in dependency order (stores, coupons, movements, store sales).

The package: ``kinds`` (columns, keys, the SQL of every rule), ``reading`` (header and bytes),
``staging``, ``direct`` and ``bulk`` (the three roads into the tables), ``results`` (what is
reported, and the roads' names).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from coupons.services.importing import bulk, direct
from coupons.services.importing.kinds import COUPONS, KINDS, MOVEMENTS, STORE_SALES, STORES, FileKind
from coupons.services.importing.reading import _Header, _read_header, read_header_line
from coupons.services.importing.results import (
    MAX_REPORTED_ERRORS,
    FileResult,
    HandOver,
    ImportFileError,
    ImportOutcome,
    Progress,
    Road,
    RowError,
)
from coupons.services.importing.staging import staging_load

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
    "Road",
    "RowError",
    "choose_road",
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


def choose_road(header: _Header, encoding: str, size: int) -> Road:
    """The road of a file, chosen once, up front, from what is known of the file (kind, columns,
    encoding, size, whether the import owns its transaction) and of the ledger (empty, swappable).
    """
    if bulk.bulk_eligible(header, encoding, size):
        # A one-off: the first load of an empty ledger (tens of millions of movements at the start
        # of the campaign). Every later file finds the ledger holding rows and never comes here.
        return Road.BULK
    if direct.direct_eligible(header, encoding, size):
        return Road.DIRECT
    return Road.STAGING


def _import_one(path: Path, encoding: str, progress: Progress | None) -> FileResult:
    """One file down its road. A fast road runs start to end and either loads the whole file or
    hands it on with nothing of it kept (bulk → direct when the ledger could not be swapped;
    bulk or direct → staging when the file is in doubt); the staging road always decides."""
    name = path.name
    started = time.monotonic()
    size = path.stat().st_size
    with path.open("rb") as stream:
        header = _read_header(name, read_header_line(stream), encoding)
        body = stream.tell()
        road = choose_road(header, encoding, size)
        if road is Road.BULK:
            loaded = bulk.bulk_load(path, name, header, body, size, progress)
            if not isinstance(loaded, HandOver):
                return _all_new(name, header, loaded, started, method=road.value)
            road = _hand_over(name, road, loaded)
        if road is Road.DIRECT:
            loaded = direct.direct_load(stream, name, header, size, progress)
            if not isinstance(loaded, HandOver):
                return _all_new(name, header, loaded, started, method=road.value)
            road = _hand_over(name, road, loaded)
            stream.seek(body)
        rows, inserted, conflicts, examples = staging_load(stream, name, header, encoding, size, progress)
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


def _hand_over(name: str, road: Road, hand_over: HandOver) -> Road:
    logger.info(
        "import %s: the %s road hands the file to the %s road (%s)",
        name,
        road,
        hand_over.road,
        hand_over.reason,
    )
    return hand_over.road


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
