"""DOMAIN.md after issue #7: scope, cancels paired one to one, a deduction compensated once, and
the final amount with late reinstatements — the named cases, one by one."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from claims.models import Entitlement, EntitlementStatusChange, Instruction, Reinstatement
from claims.services.eligibility import eligibility_run
from claims.services.reinstatements import ReinstatementError, reinstatable_movement_ids, reinstatement_decide
from coupons.models import Coupon, Store
from tests.factories import CouponFactory, MovementFactory, StoreFactory, StoreSaleFactory, jst

pytestmark = pytest.mark.django_db

ISSUED_AT = jst(2023, 2, 23, 10)
BEFORE_FINAL = jst(2023, 3, 1, 9)
FINAL_AT = jst(2023, 4, 1)
AFTER_FINAL = jst(2023, 4, 10, 9)


@pytest.fixture
def store() -> Store:
    return StoreFactory(store_id="S00001")


def _coupon(expires_on: dt.date = dt.date(2023, 2, 26), balance: int = 5000, **fields) -> Coupon:
    coupon = CouponFactory(expires_on=expires_on, **fields)
    MovementFactory(coupon=coupon, kind="issue", amount_yen=balance, occurred_at=ISSUED_AT)
    return coupon


def _pay(coupon: Coupon, amount: int, at: dt.datetime, *, store: Store, request_id: str = "", **kwargs):
    return MovementFactory(
        coupon=coupon,
        kind="payment",
        amount_yen=-amount,
        occurred_at=at,
        store=store,
        request_id=request_id,
        **kwargs,
    )


def _cancel(coupon: Coupon, amount: int, at: dt.datetime, *, store: Store, request_id: str):
    return MovementFactory(
        coupon=coupon, kind="cancel", amount_yen=amount, occurred_at=at, store=store, request_id=request_id
    )


def _found(coupon: Coupon) -> dict[str, tuple[int, dict]]:
    return {e.category: (e.amount_yen, e.evidence) for e in Entitlement.objects.filter(coupon=coupon)}


# --- a deduction is compensated once -----------------------------------------------------------------
def test_800_yen_twice_and_800_yen_cash_a_minute_later_give_2_2_800_and_2_1_800(incident, store) -> None:
    # Given ¥800 paid at 18:00:00 and again at 18:00:40, and ¥800 taken in cash by the till at 18:01
    coupon = _coupon()
    first = _pay(coupon, 800, jst(2023, 2, 24, 18, 0, 0), store=store, request_id="A")
    second = _pay(coupon, 800, jst(2023, 2, 24, 18, 0, 40), store=store, request_id="B")
    cash = StoreSaleFactory(store=store, amount_yen=800, tender="cash", occurred_at=jst(2023, 2, 24, 18, 1))

    # When the engine runs
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    # Then the second payment is the duplicate (2-2 ¥800), and the first, which 2-2 did not take, is
    # the one the cash receipt evidences (2-1 ¥800): ¥1,600 wrongly deducted, ¥1,600 in candidates
    assert _found(coupon) == {
        "2-2": (800, {"movement_ids": [first.pk, second.pk], "duplicate_movement_ids": [second.pk]}),
        "2-1": (800, {"movement_ids": [first.pk], "receipt_numbers": [cash.receipt_number]}),
    }


def test_one_cash_receipt_evidences_one_payment_only(incident, store) -> None:
    # Given two coupons each paying ¥700 at the same store a minute apart, and one ¥700 cash sale
    early, late = _coupon(), _coupon()
    paid = _pay(early, 700, jst(2023, 2, 24, 19, 0), store=store)
    _pay(late, 700, jst(2023, 2, 24, 19, 1), store=store)
    receipt = StoreSaleFactory(
        store=store, amount_yen=700, tender="cash", occurred_at=jst(2023, 2, 24, 19, 2)
    )

    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    # Then the earlier payment takes the receipt; the later one is no candidate
    assert _found(early) == {
        "2-1": (700, {"movement_ids": [paid.pk], "receipt_numbers": [receipt.receipt_number]})
    }
    assert _found(late) == {}


def test_a_payment_takes_the_nearest_receipt_leaving_the_other_for_the_next_payment(incident, store) -> None:
    coupon = _coupon()
    first = _pay(coupon, 500, jst(2023, 2, 24, 19, 0), store=store)
    second = _pay(coupon, 500, jst(2023, 2, 24, 19, 30), store=store)  # not a duplicate: 30 min later
    near_first = StoreSaleFactory(
        store=store, amount_yen=500, tender="card", occurred_at=jst(2023, 2, 24, 19, 2)
    )
    near_second = StoreSaleFactory(
        store=store, amount_yen=500, tender="qr", occurred_at=jst(2023, 2, 24, 19, 25)
    )

    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    assert _found(coupon) == {
        "2-1": (
            1000,
            {
                "movement_ids": sorted([first.pk, second.pk]),
                "receipt_numbers": sorted([near_first.receipt_number, near_second.receipt_number]),
            },
        )
    }


# --- cancels, one to one -------------------------------------------------------------------------------
def test_one_cancel_reverses_one_of_three_payments_under_one_request_id(incident, store) -> None:
    # Given a till that retried three times under one request id, and cancelled once
    coupon = _coupon()
    payments = [
        _pay(coupon, 1000, jst(2023, 2, 24, 18) + dt.timedelta(seconds=s), store=store, request_id="RETRY")
        for s in (0, 30, 60)
    ]
    _cancel(coupon, 1000, jst(2023, 2, 24, 18, 2), store=store, request_id="RETRY")

    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    # Then the cancel reverses the earliest only; the other two are still a duplicate pair
    assert _found(coupon) == {
        "2-2": (
            1000,
            {"movement_ids": [payments[1].pk, payments[2].pk], "duplicate_movement_ids": [payments[2].pk]},
        )
    }


@pytest.mark.parametrize(
    ("cancel_amount", "cancel_at", "reversed_count"),
    [
        pytest.param(1000, jst(2023, 2, 24, 18, 5), 1, id="same-amount-after"),
        pytest.param(1000, jst(2023, 2, 24, 18, 0, 0), 1, id="same-amount-at-the-same-instant"),
        pytest.param(500, jst(2023, 2, 24, 18, 5), 0, id="other-amount"),
        pytest.param(1000, jst(2023, 2, 24, 17, 59), 0, id="before-the-payment"),
    ],
)
def test_a_cancel_reverses_a_payment_of_its_amount_at_or_before_its_own_time(
    incident, store, cancel_amount, cancel_at, reversed_count
) -> None:
    coupon = _coupon()
    _pay(coupon, 1000, jst(2023, 2, 24, 18, 0, 0), store=store, request_id="X")
    _pay(coupon, 1000, jst(2023, 2, 24, 18, 0, 30), store=store, request_id="Y")
    _cancel(coupon, cancel_amount, cancel_at, store=store, request_id="X")

    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    # Two standing payments 30 s apart are a duplicate; one reversed leaves none
    assert ("2-2" in _found(coupon)) == (reversed_count == 0)


def test_two_cancels_reverse_two_payments_and_a_chain_links_to_the_previous_payment_still_standing(
    incident, store
) -> None:
    coupon = _coupon()
    a = _pay(coupon, 300, jst(2023, 2, 24, 18, 0), store=store, request_id="R")
    _pay(coupon, 300, jst(2023, 2, 24, 18, 4), store=store, request_id="R")
    _pay(coupon, 300, jst(2023, 2, 24, 18, 8), store=store, request_id="R")
    d = _pay(coupon, 300, jst(2023, 2, 24, 18, 9), store=store, request_id="S")
    _cancel(coupon, 300, jst(2023, 2, 24, 20), store=store, request_id="R")
    _cancel(coupon, 300, jst(2023, 2, 24, 20), store=store, request_id="R")

    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    # The cancels reverse the 18:00 and 18:04 payments; 18:08 and 18:09 stand, one minute apart
    # (18:00 is 9 minutes before 18:09, too far; it is gone anyway)
    third = Entitlement.objects.get(coupon=coupon, category="2-2").evidence["movement_ids"][0]
    assert _found(coupon) == {"2-2": (300, {"movement_ids": [third, d.pk], "duplicate_movement_ids": [d.pk]})}
    assert third not in {a.pk}


# --- scope ----------------------------------------------------------------------------------------
def test_a_prefecture_13_coupon_expiring_2_24_with_a_balance_gets_nothing(incident, store) -> None:
    # Given a Tokyo campaign's coupon in the same export: expiring 2/24, ¥3,000 left, paid twice
    tokyo = _coupon(dt.date(2023, 2, 24), 3000, prefecture_code="13")
    _pay(tokyo, 500, jst(2023, 2, 24, 18, 0), store=store)
    _pay(tokyo, 500, jst(2023, 2, 24, 18, 1), store=store)
    chiba = _coupon(dt.date(2023, 2, 24), 3000)

    # When the engine runs after the final instant
    eligibility_run(incident=incident, as_of=AFTER_FINAL)

    # Then the Tokyo coupon is not extended, flagged or paid by this incident; Chiba's is
    assert not Entitlement.objects.filter(coupon=tokyo).exists()
    assert not Instruction.objects.filter(entitlement__coupon=tokyo).exists()
    assert Entitlement.objects.get(coupon=chiba).status == "payable"


def test_the_incidents_prefectures_are_editable_and_the_next_run_follows_them(incident, store) -> None:
    tokyo = _coupon(dt.date(2023, 2, 24), 3000, prefecture_code="13")
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)
    assert not Entitlement.objects.filter(coupon=tokyo).exists()

    incident.prefecture_codes = ["12", "13"]
    incident.save()
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    assert Entitlement.objects.get(coupon=tokyo).amount_yen == 3000
    assert list(incident.history.order_by("history_id").values_list("prefecture_codes", flat=True))[-1] == [
        "12",
        "13",
    ]


# --- the final amount -------------------------------------------------------------------------------
def _duplicate(store: Store, *, expires_on=dt.date(2023, 2, 24), balance=3000) -> Coupon:
    coupon = _coupon(expires_on, balance)
    _pay(coupon, 400, jst(2023, 2, 24, 18, 0), store=store)
    _pay(coupon, 400, jst(2023, 2, 24, 18, 1), store=store)
    return coupon


def _confirm(coupon: Coupon, at: dt.datetime) -> Entitlement:
    candidate = Entitlement.objects.get(coupon=coupon, category="2-2")
    with time_machine.travel(at, tick=False):
        reinstatement_decide(
            entitlement_id=candidate.pk, movement_ids=reinstatable_movement_ids(candidate), actor=None
        )
    return Entitlement.objects.get(pk=candidate.pk)


def test_a_3_30_reinstatement_echoed_4_3_raises_the_final_amount_by_its_amount(incident, store) -> None:
    # Given a 1-1 coupon (2,200 left at 2/27 and at 4/1) with a duplicate 400, confirmed on 3/30
    coupon = _duplicate(store)
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)
    _confirm(coupon, jst(2023, 3, 30, 11))
    instruction = Instruction.objects.get(action="reinstate", entitlement__coupon=coupon)
    assert instruction.amount_yen == 400

    # When the clock passes 4/1 before the platform applied it: the coupon is not final yet
    eligibility_run(incident=incident, as_of=jst(2023, 4, 2))
    carrier = Entitlement.objects.get(coupon=coupon, category="1-1")
    assert (carrier.status, carrier.final_balance_yen) == ("extended", None)

    # When the platform's echo arrives, dated 4/3, and the engine runs again
    MovementFactory(
        coupon=coupon,
        kind="reinstatement",
        amount_yen=400,
        occurred_at=jst(2023, 4, 3, 10),
        request_id=instruction.instruction_id,
    )
    eligibility_run(incident=incident, as_of=jst(2023, 4, 4))

    # Then the final amount is the balance at 4/1 plus the reinstatement: 2,200 + 400, paid once
    carrier.refresh_from_db()
    assert (carrier.status, carrier.final_balance_yen) == ("payable", 2600)
    assert Entitlement.objects.get(coupon=coupon, category="2-2").status == "covered"
    assert Instruction.objects.get(pk=instruction.pk).applied_at == jst(2023, 4, 3, 10)


def test_a_reinstatement_echoed_before_the_final_instant_is_in_the_balance_once(incident, store) -> None:
    coupon = _duplicate(store)
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)
    _confirm(coupon, jst(2023, 3, 10, 11))
    instruction = Instruction.objects.get(action="reinstate", entitlement__coupon=coupon)
    MovementFactory(
        coupon=coupon,
        kind="reinstatement",
        amount_yen=400,
        occurred_at=jst(2023, 3, 11),
        request_id=instruction.instruction_id,
    )

    eligibility_run(incident=incident, as_of=AFTER_FINAL)

    assert Entitlement.objects.get(coupon=coupon, category="1-1").final_balance_yen == 2600


def test_a_2_x_decision_after_the_final_instant_is_paid_directly_and_sends_nothing(incident, store) -> None:
    # Given a coupon outside 1-x (expiring 3/31) with a duplicate 400, a run after 4/1
    coupon = _duplicate(store, expires_on=dt.date(2023, 3, 31))
    eligibility_run(incident=incident, as_of=AFTER_FINAL)

    # When an agent confirms it on 4/12
    decided = _confirm(coupon, jst(2023, 4, 12, 10))

    # Then nothing goes to the platform, and the next run pays its balance at 4/1 plus the 400
    assert decided.status == "extended"
    assert not Instruction.objects.filter(entitlement=decided, action="reinstate").exists()
    assert Reinstatement.objects.get(entitlement=decided).instruction is None
    eligibility_run(incident=incident, as_of=jst(2023, 4, 13))
    decided.refresh_from_db()
    assert (decided.status, decided.final_balance_yen) == ("payable", 2200 + 400)


def test_a_decision_after_the_final_amount_was_recorded_flags_the_carrier_with_the_new_amount(
    incident, store
) -> None:
    # Given a 1-1 coupon whose final amount was recorded, and its 2-2 confirmed afterwards
    coupon = _duplicate(store)
    eligibility_run(incident=incident, as_of=AFTER_FINAL)
    carrier = Entitlement.objects.get(coupon=coupon, category="1-1")
    assert (carrier.status, carrier.final_balance_yen) == ("payable", 2200)
    _confirm(coupon, jst(2023, 4, 12, 10))

    # When the engine runs
    eligibility_run(incident=incident, as_of=jst(2023, 4, 13))

    # Then the payment is held: the carrier is flagged with its new reading; the 2-2 is covered
    carrier.refresh_from_db()
    assert (carrier.final_balance_yen, carrier.needs_review, carrier.review_final_yen) == (2200, True, 2600)
    assert Entitlement.objects.get(coupon=coupon, category="2-2").status == "covered"


def test_one_payment_movement_is_never_reinstated_twice(incident, store) -> None:
    coupon = _duplicate(store)
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)
    _confirm(coupon, jst(2023, 3, 10, 11))
    candidate = Entitlement.objects.get(coupon=coupon, category="2-2")
    before = list(Reinstatement.objects.values_list("movement_id", "amount_yen"))

    with pytest.raises(ReinstatementError):
        reinstatement_decide(
            entitlement_id=candidate.pk, movement_ids=reinstatable_movement_ids(candidate), actor=None
        )

    assert list(Reinstatement.objects.values_list("movement_id", "amount_yen")) == before
    assert EntitlementStatusChange.objects.filter(entitlement=candidate, to_status="extended").count() == 1
