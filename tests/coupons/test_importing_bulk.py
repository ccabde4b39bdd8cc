"""The bulk path: the first load of an empty ledger goes in parallel into a new table that is
swapped in at the end; the ledger that results is the one the migrations made, and at any doubt
nothing is swapped and the file takes the usual roads."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection

from coupons.models import CouponMovement, LedgerChange
from coupons.services.importing import bulk, direct, regionpay_import
from tests.coupons.test_importing_direct import MOVEMENT_HEADER, _movements
from tests.threads import held_open

pytestmark = pytest.mark.django_db(transaction=True)  # several connections, and DDL


@pytest.fixture(autouse=True)
def every_file_is_large(monkeypatch):
    monkeypatch.setattr(direct, "DIRECT_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "PARTS", 3)
    monkeypatch.setattr(bulk, "BLOCK_BYTES", 300)  # several blocks for each of the three copiers


def ledger_schema() -> dict[str, list[tuple]]:
    """Everything the migrations made of the ledger, as the catalogue describes it."""
    queries = {
        "columns": """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), co.collname, a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            LEFT JOIN pg_collation co ON co.oid = a.attcollation
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = 'coupons_couponmovement'::regclass AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum""",
        "constraints": """
            SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = 'coupons_couponmovement'::regclass ORDER BY conname""",
        "indexes": """
            SELECT indexname, indexdef FROM pg_indexes
            WHERE tablename = 'coupons_couponmovement' ORDER BY indexname""",
        "triggers": """
            SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
            WHERE tgrelid = 'coupons_couponmovement'::regclass AND NOT tgisinternal ORDER BY tgname""",
        "table": """
            SELECT relacl::text, reloptions::text, relpersistence, relreplident, relrowsecurity,
                   relforcerowsecurity FROM pg_class
            WHERE oid = 'coupons_couponmovement'::regclass""",
        "triggers enabled": """
            SELECT tgname, tgenabled FROM pg_trigger
            WHERE tgrelid = 'coupons_couponmovement'::regclass AND NOT tgisinternal ORDER BY tgname""",
        "publications": """
            SELECT prpubid FROM pg_publication_rel WHERE prrelid = 'coupons_couponmovement'::regclass""",
        "load table": "SELECT relname FROM pg_class WHERE relname LIKE 'coupons_couponmovement_load%'",
    }
    with connection.cursor() as cursor:
        result = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            result[name] = cursor.fetchall()
        return result


def test_the_first_load_of_an_empty_ledger_goes_in_parallel_and_leaves_the_ledger_as_migrated(
    platform,
) -> None:
    migrated = ledger_schema()
    path = platform("movements.csv", MOVEMENT_HEADER, _movements(40))

    outcome = regionpay_import(paths=[path])

    assert outcome.ok
    (result,) = outcome.results
    assert (result.method, result.rows, result.inserted) == ("bulk", 80, 80)
    assert CouponMovement.objects.count() == 80
    payment = CouponMovement.objects.get(movement_id="P7")
    assert (payment.amount_yen, payment.store_id, payment.request_id) == (-500, "S1", "RQ7")
    assert payment.occurred_at.isoformat() == "2023-02-24T18:03:12+00:00"
    # the swapped-in ledger is the one the migrations made: columns, keys, checks, indexes, trigger
    assert ledger_schema() == migrated
    with pytest.raises(IntegrityError, match="append-only"):
        CouponMovement.objects.filter(movement_id="P7").update(amount_yen=-1)
    assert list(LedgerChange.objects.values_list("scope", flat=True)) == ["all"]


def test_a_ledger_that_holds_movements_is_never_swapped(platform) -> None:
    assert regionpay_import(paths=[platform("movements-1.csv", MOVEMENT_HEADER, _movements(2))]).ok
    more = [[f"X{row[0]}", *row[1:]] for row in _movements(3)]

    outcome = regionpay_import(paths=[platform("movements-2.csv", MOVEMENT_HEADER, more)])

    assert outcome.results[0].method == "direct"
    assert CouponMovement.objects.count() == 4 + 6


@pytest.mark.parametrize(
    ("bad_row", "column"),
    [
        (["X1", "CB0000000001", "payment", -100, "2023-02-24T18:03:12", "S1", "R"], "occurred_at"),
        (["X1", "CB9999999999", "payment", -100, "2023-02-24T18:03:12+09:00", "S1", "R"], "inquiry_number"),
        (["X1", "CB0000000001", "payment", 100, "2023-02-24T18:03:12+09:00", "S1", "R"], "amount_yen"),
        (["P1", "CB0000000001", "payment", -700, "2023-02-24T18:03:12+09:00", "S1", "R"], "movement_id"),
    ],
)
def test_a_bad_line_in_a_first_load_imports_nothing_swaps_nothing_and_is_named(
    platform, bad_row, column
) -> None:
    migrated = ledger_schema()
    rows = _movements(30)
    rows.insert(41, bad_row)  # in the second or third part of the file
    path = platform("movements.csv", MOVEMENT_HEADER, rows)

    outcome = regionpay_import(paths=[path])

    assert ledger_schema() == migrated
    if column == "movement_id":  # a key repeated within the file: the first one stands, as ever
        assert outcome.ok
        assert (outcome.results[0].method, outcome.results[0].conflicts) == ("staging", 1)
        assert CouponMovement.objects.get(movement_id="P1").amount_yen == -500
        assert CouponMovement.objects.count() == 60
    else:
        assert not outcome.ok
        assert [(e.line, e.column) for e in outcome.errors] == [(43, column)]
        assert CouponMovement.objects.count() == 0
        assert not LedgerChange.objects.exists()


def test_a_reader_holding_the_ledger_past_the_lock_wait_sends_the_load_down_the_direct_path(
    platform, monkeypatch
) -> None:
    monkeypatch.setattr(bulk, "LOCK_WAIT", "200ms")
    path = platform("movements.csv", MOVEMENT_HEADER, _movements(5))
    with held_open(CouponMovement.objects.count):  # a reader in a long transaction on the ledger
        outcome = regionpay_import(paths=[path])

    assert outcome.ok
    assert (outcome.results[0].method, outcome.results[0].inserted) == ("direct", 10)
    assert ledger_schema()["load table"] == []


def test_a_padded_value_in_a_first_load_is_trimmed_by_the_staging_path_instead(platform) -> None:
    migrated = ledger_schema()
    rows = _movements(30)
    rows[45] = [*rows[45][:5], " S1 ", rows[45][6]]  # a store id with spaces around it

    outcome = regionpay_import(paths=[platform("movements.csv", MOVEMENT_HEADER, rows)])

    assert outcome.ok
    assert (outcome.results[0].method, outcome.results[0].inserted) == ("staging", 60)
    assert CouponMovement.objects.get(movement_id=rows[45][0]).store_id == "S1"
    assert ledger_schema() == migrated


def test_a_second_bulk_load_at_the_same_time_takes_the_direct_path(platform) -> None:
    path = platform("movements.csv", MOVEMENT_HEADER, _movements(5))
    lock = "SELECT pg_advisory_xact_lock(%s)"
    with held_open(lambda: connection.cursor().execute(lock, [bulk.BULK_LOCK])):  # another bulk load
        outcome = regionpay_import(paths=[path])

    assert (outcome.results[0].method, outcome.results[0].inserted) == ("direct", 10)


def test_a_copier_that_stops_without_a_word_never_leaves_part_of_the_file(platform, monkeypatch) -> None:
    run = bulk._Copier.run
    calls = []

    def second_copier_quits(self) -> None:
        calls.append(self)
        if len(calls) == 2:
            return  # no error, no rows: as if the thread had died
        run(self)

    monkeypatch.setattr(bulk._Copier, "run", second_copier_quits)
    path = platform("movements.csv", MOVEMENT_HEADER, _movements(40))

    outcome = regionpay_import(paths=[path])

    assert (outcome.results[0].method, outcome.results[0].inserted) == ("direct", 80)
    assert CouponMovement.objects.count() == 80
    assert ledger_schema()["load table"] == []


def test_an_unforeseen_error_in_a_copier_imports_nothing(platform, monkeypatch) -> None:
    migrated = ledger_schema()
    checked = direct.checked_lines

    def fails_on_the_fifth_block(*args, **kwargs):
        fails_on_the_fifth_block.calls += 1
        if fails_on_the_fifth_block.calls == 5:
            raise MemoryError
        return checked(*args, **kwargs)

    fails_on_the_fifth_block.calls = 0
    monkeypatch.setattr(direct, "checked_lines", fails_on_the_fifth_block)
    path = platform("movements.csv", MOVEMENT_HEADER, _movements(40))

    with pytest.raises(MemoryError):
        regionpay_import(paths=[path])

    assert CouponMovement.objects.count() == 0
    assert ledger_schema() == migrated


def test_a_progress_display_failing_after_the_swap_does_not_report_the_file_as_not_imported(
    platform,
) -> None:
    def progress(name, phase, done, total) -> None:
        if phase == "merge" and done and done == total:
            raise ConnectionError("the progress cache went away")

    path = platform("movements.csv", MOVEMENT_HEADER, _movements(40))

    outcome = regionpay_import(paths=[path], progress=progress)

    assert outcome.ok
    assert (outcome.results[0].method, outcome.results[0].inserted) == ("bulk", 80)


@pytest.mark.parametrize(
    ("setting", "undo"),
    [
        (
            "ALTER TABLE coupons_couponmovement REPLICA IDENTITY FULL",
            "ALTER TABLE coupons_couponmovement REPLICA IDENTITY DEFAULT",
        ),
        (
            "CREATE PUBLICATION bulk_test_pub FOR TABLE coupons_couponmovement",
            "DROP PUBLICATION bulk_test_pub",
        ),
        (
            "ALTER TABLE coupons_couponmovement ALTER COLUMN kind SET STATISTICS 500",
            "ALTER TABLE coupons_couponmovement ALTER COLUMN kind SET STATISTICS -1",
        ),
    ],
)
def test_a_ledger_with_settings_a_swap_would_lose_is_loaded_by_the_direct_path(
    platform, setting, undo
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(setting)
    try:
        configured = ledger_schema()
        outcome = regionpay_import(paths=[platform("movements.csv", MOVEMENT_HEADER, _movements(5))])

        assert (outcome.results[0].method, outcome.results[0].inserted) == ("direct", 10)
        assert ledger_schema() == configured
    finally:
        with connection.cursor() as cursor:
            cursor.execute(undo)
