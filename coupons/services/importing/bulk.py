"""The bulk path: the first load of the ledger, in parallel, into a table of its own.

Into an empty ledger the fastest safe road is the one ``pg_restore`` takes: copy the rows into a
new table without indexes, in parallel (one connection per core, taking the file's blocks in
turn), build the indexes once, check the rows, and only then, in one short transaction, put the new table
in the ledger's place. Until that transaction nothing of the file is in the ledger. At any doubt on
the way the new table is dropped and the file takes the direct or the staging path, which decide
exactly as before and name any bad line.

The new table is made from the ledger itself (``LIKE ... INCLUDING ALL EXCLUDING INDEXES``) and
its indexes, key and triggers are re-created from the catalogue definitions of the ledger's own,
so the swap follows whatever the migrations made of the ledger (a test compares the two). The path
stands aside when the swap could lose something (``SWAPPABLE``): grants, storage options, row
security, replica identity, a publication, column statistics targets, a disabled trigger,
inheritance, or a view or foreign key that depends on the ledger.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from psycopg import errors as pg_errors

from coupons.services.importing import direct
from coupons.services.importing.reading import _Header
from coupons.services.importing.results import HandOver, Progress, Road
from coupons.services.ledger_changes import ledger_changes_note_all

logger = logging.getLogger(__name__)

LEDGER = "coupons_couponmovement"
LOAD = "coupons_couponmovement_load"
BULK_MIN_BYTES = 64 << 20
PARTS = max(2, min(4, os.cpu_count() or 2))  # connections copying at once
BLOCK_BYTES = 4 << 20
# Session memory for the index builds (sorting 10M keys in memory instead of in temporary files).
BUILD_MEMORY = "512MB"
LOCK_WAIT = "10s"
BULK_LOCK = 0x5245_4255  # pg_advisory_lock key: "REBU"


class NotBulk(Exception):
    """The ledger cannot be swapped (not empty, or something depends on it): try the direct path."""


@dataclass(frozen=True)
class _Plan:
    indexes: list[str]  # CREATE INDEX on the new table, one connection each, all at once
    keys: list[str]  # then the key constraints, on their indexes
    renames: list[tuple[str, str]]  # (new table's index, the ledger's name for it)
    triggers: list[str]  # the ledger's triggers, to re-create on the swapped table


SWAPPABLE = f"""
SELECT c.relacl IS NULL AND c.reloptions IS NULL
   AND NOT c.relrowsecurity AND NOT c.relforcerowsecurity AND c.relreplident = 'd'
   AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
   AND NOT EXISTS (SELECT 1 FROM pg_publication_rel p WHERE p.prrelid = c.oid)
   AND NOT EXISTS (
     SELECT 1 FROM pg_attribute a
     WHERE a.attrelid = c.oid AND a.attnum > 0
       AND (a.attacl IS NOT NULL OR a.attstattarget >= 0
            OR EXISTS (SELECT 1 FROM unnest(a.attoptions) o WHERE o LIKE 'n\\_distinct%')))
   AND NOT EXISTS (
     SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled <> 'O')
   AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid)
   AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid OR i.inhrelid = c.oid)
   AND NOT EXISTS (
     SELECT 1 FROM pg_depend d
     WHERE d.refobjid = c.oid AND d.classid = 'pg_rewrite'::regclass)
   AND NOT EXISTS (SELECT 1 FROM {LEDGER})
FROM pg_class c WHERE c.oid = '{LEDGER}'::regclass
"""

_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (USING .*)$")


def bulk_eligible(header: _Header, encoding: str, size: int) -> bool:
    """What the file and the ledger say up front: a large movements file the direct road could
    take, and a ledger that is empty and that a swap would not lose anything of (one query)."""
    return (
        header.kind.table == LEDGER
        and size >= BULK_MIN_BYTES
        and direct.direct_eligible(header, encoding, size)
        and _swappable()
    )


def _swappable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute(SWAPPABLE)
            return bool(cursor.fetchone()[0])
    except _UNREACHABLE:
        return False


def _plan(cursor) -> _Plan:
    cursor.execute(SWAPPABLE)
    if not cursor.fetchone()[0]:
        raise NotBulk("the ledger is not empty, or something depends on it")
    indexes: list[str] = []
    keys: list[str] = []
    renames: list[tuple[str, str]] = []
    # Every index, the keys' included: a key is then attached to its index (instant), so that all
    # the builds can run at once (ADD PRIMARY KEY would lock out the other builds).
    cursor.execute(
        f"""SELECT i.relname, pg_get_indexdef(i.oid), k.contype, pg_get_constraintdef(k.oid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            LEFT JOIN pg_constraint k ON k.conindid = i.oid AND k.conrelid = x.indrelid
            WHERE x.indrelid = '{LEDGER}'::regclass
            ORDER BY i.relname"""
    )
    for name, definition, key, key_definition in cursor.fetchall():
        match = _INDEX_DEF.match(definition)
        if not match or key not in (None, "p", "u"):
            raise NotBulk(f"index {name} has a definition the bulk path does not know")
        indexes.append(f"CREATE {match[1] or ''}INDEX {name}_load ON {LOAD} {match[4]}")
        if key is not None:
            kind = {"p": "PRIMARY KEY", "u": "UNIQUE"}[key]
            if not re.fullmatch(rf"{kind} \([^)]*\)", key_definition):
                raise NotBulk(f"key {name} has options the bulk path does not know")
            keys.append(f"ALTER TABLE {LOAD} ADD CONSTRAINT {name}_load {kind} USING INDEX {name}_load")
        renames.append((f"{name}_load", name))
    cursor.execute(
        f"SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = '{LEDGER}'::regclass "
        "AND NOT tgisinternal ORDER BY tgname"
    )
    triggers = [row[0] for row in cursor.fetchall()]
    return _Plan(indexes=indexes, keys=keys, renames=renames, triggers=triggers)


def _build_indexes(statements: list[str]) -> None:
    """Run the index builds at once, one connection each (one core each: no parallel workers)."""
    errors: list[BaseException] = []

    def build(statement: str) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
                cursor.execute("SET max_parallel_maintenance_workers = 0")
                cursor.execute(statement)
        except BaseException as exc:  # handed to the caller
            errors.append(exc)
        finally:
            connection.close()

    builders = [threading.Thread(target=build, args=(statement,), daemon=True) for statement in statements]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    for exc in errors:
        if isinstance(exc, pg_errors.UniqueViolation | IntegrityError):
            raise direct.NotDirect("a key repeats") from exc
    if errors:
        raise errors[0]


def _blocks(path: Path, body: int, size: int) -> list[tuple[int, int]]:
    """Byte ranges of whole lines, BLOCK_BYTES or so each, in file order."""
    bounds = [body]
    with path.open("rb") as stream:
        while bounds[-1] + BLOCK_BYTES < size:
            stream.seek(bounds[-1] + BLOCK_BYTES)
            stream.readline()
            bounds.append(stream.tell())
    if bounds[-1] < size:
        bounds.append(size)
    return list(itertools.pairwise(bounds))


class _Copier(threading.Thread):
    """Copies its share of the file's blocks into the new table, on its own connection.

    The copiers take the blocks in turn (1st, 2nd, 1st, 2nd, ...) rather than a half each, so the
    table's pages come out in about the file's order — the order of coupons, which keeps the
    planner's correlation statistics (and scans by coupon) as good as a single COPY's.
    """

    def __init__(
        self, path: Path, blocks: list[tuple[int, int]], header: _Header, stop: threading.Event
    ) -> None:
        super().__init__(daemon=True)
        self.path, self.blocks, self.header, self.stop = path, blocks, header, stop
        self.done = 0  # bytes
        self.lines = 0  # the file's lines in those bytes
        self.rows = 0  # what COPY says it copied
        self.finished = False  # set last: a copier that ends without it failed, error or not
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            lines_ok = direct.clean_lines(self.header)
            with self.path.open("rb") as stream, transaction.atomic(), connection.cursor() as cursor:
                with cursor.copy(direct.copy_sql(self.header, LOAD)) as copy:
                    for lo, hi in self.blocks:
                        if self.stop.is_set():
                            raise direct.NotDirect("another part failed")
                        stream.seek(lo)
                        block = stream.read(hi - lo)
                        if len(block) != hi - lo:
                            raise direct.NotDirect("the file changed while it was read")
                        direct.checked_lines(lines_ok, b"", block, final=True)  # whole lines
                        copy.write(block)
                        self.done += len(block)
                        self.lines += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                self.rows = cursor.rowcount
            self.finished = True
        except BaseException as exc:  # handed to the main thread
            self.error = exc
            self.stop.set()
        finally:
            connection.close()


def bulk_load(
    path: Path, name: str, header: _Header, body: int, size: int, progress: Progress | None
) -> int | HandOver:
    """The bulk road, start to end: the rows loaded into the (empty) ledger, or a hand-over with
    nothing of the file in the ledger — to the direct road when the ledger could not be swapped
    (it received rows meanwhile, a reader held it, a connection failed, another bulk load is on
    its way), to the staging road when the file itself is in doubt (a line, a key, an unknown
    coupon or store: staging names it).

    One bulk load at a time (they would share the new table): another one meanwhile takes the
    direct path, and finds the ledger no longer empty or waits for its rows' keys."""
    try:
        return _bulk_load_locked(path, name, header, body, size, progress)
    except NotBulk as exc:
        return HandOver(Road.DIRECT, str(exc))
    except direct.NotDirect as exc:
        return HandOver(Road.STAGING, str(exc))


def _bulk_load_locked(
    path: Path, name: str, header: _Header, body: int, size: int, progress: Progress | None
) -> int:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [BULK_LOCK])
            locked = cursor.fetchone()[0]
    except _UNREACHABLE as exc:
        raise NotBulk(f"no connection for a bulk load ({type(exc).__name__})") from exc
    if not locked:
        raise NotBulk("another bulk load is on its way")
    try:
        return _bulk_load(path, name, header, body, size, progress)
    finally:
        _best_effort("unlock", "SELECT pg_advisory_unlock(%s)", [BULK_LOCK])


# Errors of the connections themselves (too many clients, a server gone, a right missing): the
# direct path, on one connection, may still do.
_UNREACHABLE = (
    OperationalError,
    InterfaceError,
    ProgrammingError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def _best_effort(what: str, sql: str, params: list[int] | None = None) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    except Exception as exc:
        logger.warning("bulk load: could not %s (%s)", what, type(exc).__name__)


def _bulk_load(
    path: Path, name: str, header: _Header, body: int, size: int, progress: Progress | None
) -> int:
    try:
        with connection.cursor() as cursor:
            plan = _plan(cursor)
    except _UNREACHABLE as exc:
        raise NotBulk(f"the ledger could not be read ({type(exc).__name__})") from exc
    try:
        started = time.monotonic()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {LOAD}")
                cursor.execute(f"CREATE TABLE {LOAD} (LIKE {LEDGER} INCLUDING ALL EXCLUDING INDEXES)")
            rows = _copy_parts(path, name, header, body, size, progress)
            copy_done = time.monotonic()
            if progress:
                progress(name, "merge", 0, rows)
            _build_indexes(plan.indexes)
            with connection.cursor() as cursor:
                for key in plan.keys:
                    cursor.execute(key)
                build_done = time.monotonic()
                with transaction.atomic():
                    new_rows, unknown = direct.count_unknown(cursor, header, LOAD, where="true")
                    cursor.execute(f"SELECT '{LOAD}'::regclass::oid")
                    load_oid = cursor.fetchone()[0]
            check_done = time.monotonic()
        except _UNREACHABLE as exc:
            raise NotBulk(f"a connection failed ({type(exc).__name__})") from exc
        if new_rows != rows or unknown:
            raise direct.NotDirect(
                f"{unknown} rows with an unknown coupon or store of {new_rows} (copied {rows})"
            )
        _swap(plan, load_oid)
    finally:
        _best_effort("drop the new table", f"DROP TABLE IF EXISTS {LOAD}")
    # Committed: from here on nothing may report the file as not imported.
    logger.info(
        "import %s: bulk load of %s rows: copy %.1fs, keys and indexes %.1fs, checks %.1fs, swap %.1fs",
        name,
        rows,
        copy_done - started,
        build_done - copy_done,
        check_done - build_done,
        time.monotonic() - check_done,
    )
    if progress:
        try:
            progress(name, "merge", rows, rows)
        except Exception as exc:
            logger.warning("import %s: progress not shown (%s)", name, type(exc).__name__)
    return rows


def _swap(plan: _Plan, load_oid: int) -> None:
    """Put the new table in the ledger's place, in one transaction; raise NotBulk if refused."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Readers of the ledger wait for this short transaction; it waits for them no longer
            # than LOCK_WAIT, and then the file takes the direct path instead.
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            cursor.execute(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {LEDGER})")
            if cursor.fetchone()[0]:
                raise NotBulk("the ledger received movements meanwhile")
            cursor.execute(f"DROP TABLE {LEDGER}")
            cursor.execute(f"ALTER TABLE {LOAD} RENAME TO {LEDGER}")
            for built, original in plan.renames:
                cursor.execute(f"ALTER INDEX {built} RENAME TO {original}")
            for trigger in plan.triggers:
                cursor.execute(trigger)
            ledger_changes_note_all()
    except NotBulk:
        raise
    except DatabaseError as exc:
        # Refused (a lock not granted in time, a dependency not foreseen) — or lost at COMMIT, in
        # which case the ledger itself says whether the swap happened.
        if not _swapped(load_oid):
            raise NotBulk(f"the swap was refused ({type(exc).__name__})") from exc
        logger.warning("bulk load: the swap committed although its connection failed at the end")


def _swapped(load_oid: int) -> bool:
    if connection.connection is not None and not connection.is_usable():
        connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT to_regclass('{LEDGER}')::oid")
            return cursor.fetchone()[0] == load_oid
    except DatabaseError:
        return False


def _copy_parts(
    path: Path, name: str, header: _Header, body: int, size: int, progress: Progress | None
) -> int:
    """Copy the file's blocks in parallel; return the rows, which are exactly the file's lines."""
    stop = threading.Event()
    blocks = _blocks(path, body, size)
    copiers = [_Copier(path, blocks[part::PARTS], header, stop) for part in range(min(PARTS, len(blocks)))]
    try:
        for copier in copiers:
            copier.start()
        for copier in copiers:
            while copier.is_alive():
                copier.join(0.5)
                if progress:
                    progress(name, "copy", body + sum(c.done for c in copiers), size)
    finally:
        stop.set()  # whatever stopped this thread stops the copiers too (they roll back)
        for copier in copiers:
            copier.join()
    errors = [c.error for c in copiers if c.error is not None]
    if errors:
        first = next((e for e in errors if not isinstance(e, direct.NotDirect)), errors[0])
        cause = first.__cause__ if isinstance(first.__cause__, psycopg.Error) else first
        if isinstance(first, direct.NotDirect):
            raise first
        if isinstance(cause, pg_errors.DataError | pg_errors.IntegrityError | pg_errors.QueryCanceled):
            raise direct.NotDirect(type(cause).__name__) from first
        if isinstance(first, _UNREACHABLE) or isinstance(cause, _UNREACHABLE):
            raise NotBulk(f"a copier's connection failed ({type(first).__name__})") from first
        raise first
    rows, lines = sum(c.rows for c in copiers), sum(c.lines for c in copiers)
    if not all(c.finished for c in copiers) or rows != lines:
        raise NotBulk(f"the copiers copied {rows} rows of the file's {lines} lines")
    return rows
