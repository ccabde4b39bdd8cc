"""The coupon ledger is append-only in the database itself (trigger from migration 0002).

Corrections are new movements; UPDATE and DELETE are refused for every client, ORM or raw SQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from coupons.models import CouponMovement
from tests.factories import CouponFactory, MovementFactory, jst

pytestmark = pytest.mark.django_db


def _snapshot() -> list[dict]:
    return list(CouponMovement.objects.order_by("movement_id").values())


@pytest.fixture
def ledger() -> list[CouponMovement]:
    """A coupon issued 3,000 and adjusted by -200."""
    coupon = CouponFactory(inquiry_number="CB00000001")
    return [
        MovementFactory(
            movement_id="M001", coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10)
        ),
        MovementFactory(movement_id="M002", coupon=coupon, amount_yen=-200, occurred_at=jst(2023, 2, 24, 18)),
    ]


def _save_changed_instance(ledger):
    movement = CouponMovement.objects.get(movement_id="M001")
    movement.amount_yen = 5000
    movement.save()


def _save_unchanged_instance(ledger):
    CouponMovement.objects.get(movement_id="M001").save()


def _save_changed_time(ledger):
    movement = CouponMovement.objects.get(movement_id="M002")
    movement.occurred_at = movement.occurred_at + dt.timedelta(days=1)
    movement.save(update_fields=["occurred_at"])


def _queryset_update(ledger):
    CouponMovement.objects.filter(coupon_id="CB00000001").update(amount_yen=0)


def _instance_delete(ledger):
    CouponMovement.objects.get(movement_id="M002").delete()


def _queryset_delete(ledger):
    CouponMovement.objects.filter(movement_id__in=["M001", "M002"]).delete()


def _raw_update(ledger):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE coupons_couponmovement SET amount_yen = amount_yen + 1 WHERE movement_id = 'M001'"
        )


def _raw_update_to_same_value(ledger):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE coupons_couponmovement SET amount_yen = amount_yen")


def _raw_delete(ledger):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM coupons_couponmovement WHERE movement_id = 'M002'")


def _raw_upsert(ledger):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO coupons_couponmovement "
            "(movement_id, inquiry_number, kind, amount_yen, occurred_at, request_id, app_account_id) "
            "VALUES ('M001', 'CB00000001', 'issue', 9999, now(), '', '') "
            "ON CONFLICT (movement_id) DO UPDATE SET amount_yen = EXCLUDED.amount_yen"
        )


CHANGES = [
    pytest.param(_save_changed_instance, id="orm-save-changed-amount"),
    pytest.param(_save_unchanged_instance, id="orm-save-unchanged"),
    pytest.param(_save_changed_time, id="orm-save-update-fields"),
    pytest.param(_queryset_update, id="orm-queryset-update"),
    pytest.param(_instance_delete, id="orm-instance-delete"),
    pytest.param(_queryset_delete, id="orm-queryset-delete"),
    pytest.param(_raw_update, id="sql-update"),
    pytest.param(_raw_update_to_same_value, id="sql-update-no-op"),
    pytest.param(_raw_delete, id="sql-delete"),
    pytest.param(_raw_upsert, id="sql-insert-on-conflict-update"),
]


@pytest.mark.parametrize("change", CHANGES)
def test_updating_or_deleting_a_movement_is_refused_by_the_database(ledger, change) -> None:
    # Given a ledger of two movements
    before = _snapshot()

    # When a client updates or deletes a movement
    # Then the database refuses it, naming the append-only rule, and every row is as it was
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        change(ledger)
    assert _snapshot() == before
    assert len(before) == 2


def test_inserting_a_new_movement_still_works(ledger) -> None:
    # Given a ledger of two movements
    # When a correction is recorded as a new movement, through the ORM and through SQL
    CouponMovement.objects.create(
        movement_id="M003",
        coupon_id="CB00000001",
        kind="adjustment",
        amount_yen=200,
        occurred_at=jst(2023, 2, 25, 9),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO coupons_couponmovement "
            "(movement_id, inquiry_number, kind, amount_yen, occurred_at, request_id, app_account_id) "
            "VALUES ('M004', 'CB00000001', 'adjustment', -1, now(), '', '')"
        )

    # Then both are stored next to the untouched originals
    assert list(CouponMovement.objects.order_by("movement_id").values_list("movement_id", "amount_yen")) == [
        ("M001", 3000),
        ("M002", -200),
        ("M003", 200),
        ("M004", -1),
    ]


def test_the_transaction_stays_usable_after_a_refused_change(ledger) -> None:
    # Given a refused update inside its own savepoint
    with pytest.raises(IntegrityError), transaction.atomic():
        _queryset_update(ledger)

    # When the caller goes on in the same transaction
    MovementFactory(movement_id="M009", coupon=ledger[0].coupon, amount_yen=1)

    # Then its work is stored as usual
    assert CouponMovement.objects.get(movement_id="M009").coupon_id == "CB00000001"


def test_the_ledger_carries_only_the_indexes_it_needs() -> None:
    """Every imported movement pays for each index on the ledger: its key, and its coupon. A third
    (Django's varchar_pattern_ops twin of the key) once cost a 10M import ~30 %."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'coupons_couponmovement' ORDER BY 1"
        )
        names = [row[0] for row in cursor.fetchall()]
    assert names == ["coupons_couponmovement_pkey", "movement_coupon"]
