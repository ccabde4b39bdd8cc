"""Incremental runs: re-deciding only the coupons whose data changed ends in the rows a full run
would write, and no change is ever missed, whatever order the writers commit in."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.models import EligibilityRun, Entitlement
from claims.services.eligibility import Checkpoint, eligibility_run
from claims.services.runs import eligibility_run_create, eligibility_run_execute
from coupons.models import LedgerChange
from tests.claims.test_eligibility import (
    AFTER_FINAL,
    ISSUED_AT,
    OUTAGE_START,
    Scenario,
    _insert,
    _insert_records,
    _prefixed,
    _rows_by_natural_key,
    scenarios,
)
from tests.factories import CouponFactory, MovementFactory, StoreFactory, StoreSaleFactory, jst
from tests.threads import held_open

_example = itertools.count()


def _decided_twice(incident, scenario: Scenario, later_movements, later_sales, *, incremental: bool):
    """From an empty ledger: the first file, a full run, the later file, and a second run
    (incremental or full). Each step commits, as in operations."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE coupons_coupon, coupons_couponmovement, coupons_storesale, coupons_ledgerchange, "
            "claims_instruction, claims_entitlementstatuschange, claims_entitlement CASCADE"
        )
    first = Scenario(
        coupons=scenario.coupons,
        movements=[m for m, later in zip(scenario.movements, later_movements, strict=True) if not later],
        sales=[s for s, later in zip(scenario.sales, later_sales, strict=True) if not later],
        as_of=scenario.as_of,
    )
    _insert(first)
    decided = eligibility_run(incident=incident, as_of=scenario.as_of)
    _insert_records(  # a later file, noted as the importer does
        [m for m, later in zip(scenario.movements, later_movements, strict=True) if later],
        [s for s, later in zip(scenario.sales, later_sales, strict=True) if later],
        noted=True,
    )
    since = decided.checkpoint if incremental else None
    return eligibility_run(incident=incident, as_of=scenario.as_of, since=since), _rows_by_natural_key()


@pytest.mark.django_db(transaction=True)  # the runs' checkpoints are about commits
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=scenarios(), data=st.data())
def test_an_incremental_run_after_a_later_file_ends_in_the_rows_of_a_full_run(
    incident, generated, data
) -> None:
    scenario = _prefixed(generated, f"I{next(_example):05d}")
    # Given a ledger decided once, and a later file with some of its movements and till records
    # (late movements of coupons already decided, or the first of a coupon, or till records)
    later_movements = data.draw(
        st.lists(st.booleans(), min_size=len(scenario.movements), max_size=len(scenario.movements))
    )
    later_sales = data.draw(
        st.lists(st.booleans(), min_size=len(scenario.sales), max_size=len(scenario.sales))
    )

    # When an incremental run re-decides the changed coupons
    incremental, after_incremental = _decided_twice(
        incident, scenario, later_movements, later_sales, incremental=True
    )
    assert incremental.mode == "incremental"
    changed = {
        m.inquiry_number for m, later in zip(scenario.movements, later_movements, strict=True) if later
    }
    assert incremental.coupons is not None
    assert incremental.coupons >= len(changed)

    # Then it wrote exactly the rows a full run writes from the same state
    full, after_full = _decided_twice(incident, scenario, later_movements, later_sales, incremental=False)
    assert full.mode == "full"
    assert after_incremental == after_full


@pytest.mark.django_db(transaction=True)
def test_an_incremental_run_re_decides_only_the_coupons_of_the_later_file(incident) -> None:
    store = StoreFactory()
    untouched, late = CouponFactory(), CouponFactory()
    for coupon in (untouched, late):
        MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=ISSUED_AT)
    first = eligibility_run(incident=incident, as_of=AFTER_FINAL)
    MovementFactory(
        coupon=late, kind="payment", amount_yen=-500, occurred_at=jst(2023, 2, 26, 12), store=store
    )

    again = eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint)

    assert (again.mode, again.coupons) == ("incremental", 1)
    assert Entitlement.objects.get(coupon=late).needs_review  # 2,500 now at the 1-1 cut-off, 3,000 recorded
    assert not Entitlement.objects.get(coupon=untouched).needs_review


@pytest.mark.django_db(transaction=True)
def test_till_records_arriving_later_make_a_2_1_candidate_of_a_payment_at_that_store(incident) -> None:
    store, elsewhere = StoreFactory(), StoreFactory()
    coupon = CouponFactory()
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=ISSUED_AT)
    paid_at = OUTAGE_START + dt.timedelta(hours=1)
    MovementFactory(coupon=coupon, kind="payment", amount_yen=-1000, occurred_at=paid_at, store=store)
    first = eligibility_run(incident=incident, as_of=AFTER_FINAL)
    assert not Entitlement.objects.filter(coupon=coupon, category="2-1").exists()

    # A till record far from the outage, and one at another store, change nothing for this coupon
    StoreSaleFactory(store=store, amount_yen=1000, occurred_at=jst(2023, 3, 10, 12))
    StoreSaleFactory(store=elsewhere, amount_yen=1000, occurred_at=paid_at)
    quiet = eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint)
    assert (quiet.mode, quiet.coupons) == ("incremental", 0)

    # The store's till file for the outage day: a cash sale of the amount, 10 minutes later
    StoreSaleFactory(store=store, amount_yen=1000, occurred_at=paid_at + dt.timedelta(seconds=600))
    again = eligibility_run(incident=incident, as_of=AFTER_FINAL, since=quiet.checkpoint)

    assert (again.mode, again.coupons, again.created["2-1"]) == ("incremental", 1, 1)
    assert Entitlement.objects.get(coupon=coupon, category="2-1").amount_yen == 1000


@pytest.mark.django_db(transaction=True)
def test_a_decision_extended_after_the_final_instant_gets_its_final_balance_on_the_next_run(incident) -> None:
    store = StoreFactory()
    coupon = CouponFactory(expires_on=dt.date(2023, 3, 31))  # in no 1-x group
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=ISSUED_AT)
    paid_at = OUTAGE_START + dt.timedelta(hours=1)
    for offset in (0, 60):
        MovementFactory(
            coupon=coupon,
            kind="payment",
            amount_yen=-500,
            occurred_at=paid_at + dt.timedelta(seconds=offset),
            store=store,
        )
    first = eligibility_run(incident=incident, as_of=AFTER_FINAL)
    # An agent confirms the 2-2 candidate as an extension (the desk's action, to come)
    Entitlement.objects.filter(coupon=coupon, category="2-2").update(
        status="extended",
        valid_until=incident.extension_valid_until,  # extended ⇒ valid_until (#7)
    )

    again = eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint)

    assert (again.mode, again.coupons, again.final_balances_recorded) == ("incremental", 1, 1)
    decided = Entitlement.objects.get(coupon=coupon, category="2-2")
    assert (decided.status, decided.final_balance_yen) == ("payable", 2000)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gates": "1-2"}, "the clock opened another group"),
        ({"rules": "another"}, "the incident's rules changed"),
    ],
)
def test_a_run_is_full_when_the_clock_or_the_rules_moved_on(incident, change, reason) -> None:
    coupon = CouponFactory()
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=ISSUED_AT)
    first = eligibility_run(incident=incident, as_of=AFTER_FINAL)
    assert first.checkpoint is not None
    moved = Checkpoint(**{**first.checkpoint.as_dict(), **change})  # type: ignore[arg-type]

    assert eligibility_run(incident=incident, as_of=AFTER_FINAL, since=moved).mode == "full", reason
    assert eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint).mode == "incremental"


@pytest.mark.django_db(transaction=True)
def test_a_bulk_load_makes_the_next_run_full(incident) -> None:
    first = eligibility_run(incident=incident, as_of=AFTER_FINAL)
    LedgerChange.objects.create(xact=first.checkpoint.xact, scope="all")  # type: ignore[union-attr]

    assert eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint).mode == "full"


# --- with real transactions: the checkpoint never misses a writer that commits late --------------
@pytest.mark.django_db(transaction=True)
def test_a_file_committed_after_a_run_began_is_re_decided_by_the_next_run(incident) -> None:
    early, slow = CouponFactory(), CouponFactory()
    run_id = lambda: eligibility_run_create(incident=incident, created_by=None, enqueue=False).pk  # noqa: E731
    eligibility_run_execute(run_id=run_id(), full=True)

    # Given an import that has written its movements but not committed yet, while another commits
    slow_import = lambda: MovementFactory(coupon=slow, kind="issue", amount_yen=2000, occurred_at=ISSUED_AT)  # noqa: E731
    with held_open(slow_import):
        MovementFactory(coupon=early, kind="issue", amount_yen=1000, occurred_at=ISSUED_AT)

        # When a run goes by before the slow import commits
        seen = eligibility_run_execute(run_id=run_id())
    assert seen.summary["mode"] == "incremental"
    assert set(Entitlement.objects.values_list("coupon_id", flat=True)) == {early.pk}

    # Then the next run picks the slow import up, though its change was written before the other's
    caught_up = eligibility_run_execute(run_id=run_id())
    assert caught_up.summary["mode"] == "incremental"
    assert set(Entitlement.objects.values_list("coupon_id", "amount_yen")) == {
        (early.pk, 1000),
        (slow.pk, 2000),
    }
    assert EligibilityRun.objects.filter(status="succeeded").count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_command_runs_incrementally_after_an_import_and_full_on_request(
    incident, tmp_path, capsys
) -> None:
    from coupons.services.importing import regionpay_import

    coupon = CouponFactory()
    call_command("run_eligibility")
    assert "(full)" in capsys.readouterr().out
    movements = tmp_path / "movements.csv"
    movements.write_text(
        "movement_id,inquiry_number,kind,amount_yen,occurred_at\n"
        f"MX1,{coupon.pk},issue,3000,{ISSUED_AT.isoformat()}\n"
        f"MX2,{coupon.pk},adjustment,-100,{OUTAGE_START.isoformat()}\n",
        encoding="utf-8",
    )
    assert regionpay_import(paths=[movements]).failed_file is None
    assert list(LedgerChange.objects.values_list("scope", "key")) == [("coupon", coupon.pk)]

    call_command("run_eligibility")
    assert "(incremental: re-decided 1 of the coupons)" in capsys.readouterr().out
    assert Entitlement.objects.get(coupon=coupon).amount_yen == 2900

    call_command("run_eligibility", "--full")
    assert "(full)" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_run_with_more_changed_coupons_than_an_incremental_run_pays_for_is_full(
    incident, monkeypatch
) -> None:
    from claims.services import eligibility

    first = eligibility_run(incident=incident, as_of=AFTER_FINAL)
    for coupon in [CouponFactory() for _ in range(3)]:  # three coupons changed since
        MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=ISSUED_AT)
    monkeypatch.setattr(eligibility, "INCREMENTAL_MAX", 2)

    again = eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint)

    assert (again.mode, again.coupons) == ("full", None)
    monkeypatch.setattr(eligibility, "INCREMENTAL_MAX", 3)
    assert eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint).mode == "incremental"


@pytest.mark.django_db(transaction=True)
def test_a_long_transaction_elsewhere_does_not_make_every_tick_run_again(incident) -> None:
    from claims.services.runs import eligibility_due

    coupon = CouponFactory()
    # A long report or import that holds a transaction id
    with held_open(lambda: connection.cursor().execute("SELECT pg_current_xact_id()")):
        MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=ISSUED_AT)  # committed
        run = eligibility_run_execute(
            run_id=eligibility_run_create(incident=incident, created_by=None, enqueue=False).pk
        )
        assert set(Entitlement.objects.values_list("coupon_id", flat=True)) == {coupon.pk}

        # The run saw the movement: nothing is due although the older transaction still runs
        assert not eligibility_due(incident=incident, now=run.as_of)


@pytest.mark.django_db(transaction=True)
def test_a_run_reads_one_repeatable_read_snapshot_the_one_its_checkpoint_records(incident) -> None:
    # Given a run that looks, at every step, at its isolation and at what another commit did
    coupon = CouponFactory()
    seen: list[tuple[str, int]] = []

    def look(step: str, done: int, total: int) -> None:
        if step == "1-1":  # another session commits a movement while the run is under way
            other = connection.copy()
            try:
                with other.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO coupons_couponmovement (movement_id, inquiry_number, kind, amount_yen, "
                        "occurred_at) VALUES ('LATE1', %s, 'issue', 700, %s)",
                        [coupon.pk, ISSUED_AT],
                    )
                    cursor.execute(
                        "INSERT INTO coupons_ledgerchange (xact, scope, key, first_at, last_at) "
                        "VALUES (pg_current_xact_id()::text::bigint, 'coupon', %s, %s, %s)",
                        [coupon.pk, ISSUED_AT, ISSUED_AT],
                    )
                other.commit()
            finally:
                other.close()
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            isolation = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM coupons_couponmovement")
            seen.append((isolation, cursor.fetchone()[0]))

    # When it runs
    first = eligibility_run(incident=incident, as_of=AFTER_FINAL, progress=look)

    # Then every step read the same snapshot, which did not contain the later commit
    assert {isolation for isolation, _ in seen} == {"repeatable read"}
    assert {count for _, count in seen} == {0}
    # and the next run, from that checkpoint, re-decides the coupon the commit touched
    again = eligibility_run(incident=incident, as_of=AFTER_FINAL, since=first.checkpoint)
    assert (again.mode, again.coupons) == ("incremental", 1)
    assert Entitlement.objects.get(coupon=coupon).amount_yen == 700
