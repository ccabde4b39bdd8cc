"""Coupon balances: the balance at instant T is the sum of movements strictly before T (DOMAIN.md).

The cut-offs are midnights in Japan time; a movement at exactly T is not in the balance at T.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coupons.models import Coupon, CouponMovement
from coupons.services.balances import coupon_balance_at, coupon_balances_at, coupon_balances_at_many
from tests.factories import CouponFactory, MovementFactory, jst

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
UTC = dt.UTC

# 00:00 JST of the days whose balances decide 1-2 (2/26), 1-1 (2/27) and the final amount (4/1).
CUT_OFFS = [jst(2023, 2, 26), jst(2023, 2, 27), jst(2023, 4, 1)]
NUDGES = [
    dt.timedelta(0),
    dt.timedelta(microseconds=1),
    -dt.timedelta(microseconds=1),
    dt.timedelta(seconds=1),
    -dt.timedelta(seconds=1),
    dt.timedelta(hours=9),  # UTC midnight of the next day, the classic mix-up
    -dt.timedelta(hours=9),
]
# Every cut-off also as the same instant written in UTC (15:00 the day before).
INSTANTS = [at for cut_off in CUT_OFFS for at in (cut_off, cut_off.astimezone(UTC))]

_example = itertools.count()


def _in_jst_or_utc(instant: dt.datetime) -> st.SearchStrategy[dt.datetime]:
    return st.sampled_from([instant.astimezone(JST), instant.astimezone(UTC)])


near_cut_offs = st.builds(lambda c, n: c + n, st.sampled_from(CUT_OFFS), st.sampled_from(NUDGES)).flatmap(
    _in_jst_or_utc
)
anywhere = st.datetimes(
    min_value=dt.datetime(2023, 2, 20),  # noqa: DTZ001 - bounds of a strategy that adds the zone
    max_value=dt.datetime(2023, 4, 5),  # noqa: DTZ001
    timezones=st.sampled_from([JST, UTC]),
)
amounts = st.integers(min_value=-50_000, max_value=50_000)
ledgers = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3), amounts, st.one_of(near_cut_offs, anywhere)),
    max_size=25,
)


def _kind_for(amount: int) -> str:
    """A kind the table's sign rule allows for ``amount``, without needing a store."""
    if amount > 0:
        return ("issue", "reinstatement", "adjustment")[amount % 3]
    if amount == 0:
        return ("charge", "adjustment")[amount % 2]
    return "adjustment"


def _expected(ledger: list[tuple[str, int, dt.datetime]], at: dt.datetime) -> dict[str, int]:
    """Plain-Python rule: per coupon with a movement strictly before ``at``, the sum of those."""
    balances: dict[str, int] = {}
    for coupon, amount, occurred_at in ledger:
        if occurred_at < at:
            balances[coupon] = balances.get(coupon, 0) + amount
    return balances


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ledger_spec=ledgers, extra_instants=st.lists(st.one_of(near_cut_offs, anywhere), max_size=3))
def test_balances_equal_the_sum_of_movements_strictly_before_the_instant(ledger_spec, extra_instants) -> None:
    with transaction.atomic():
        # Given up to four coupons and a random ledger, incl. movements at and around the cut-offs
        prefix = f"HB{next(_example):06d}"
        coupons = [f"{prefix}C{i}" for i in range(4)]
        Coupon.objects.bulk_create(CouponFactory.build(inquiry_number=number) for number in coupons)
        ledger = [(coupons[c], amount, occurred_at) for c, amount, occurred_at in ledger_spec]
        CouponMovement.objects.bulk_create(
            CouponMovement(
                movement_id=f"{prefix}M{i}",
                coupon_id=coupon,
                kind=_kind_for(amount),
                amount_yen=amount,
                occurred_at=occurred_at,
            )
            for i, (coupon, amount, occurred_at) in enumerate(ledger)
        )
        instants = [*INSTANTS, *extra_instants]

        for at in instants:
            expected = _expected(ledger, at)

            # When balances are asked for at T (in JST or in UTC)
            # Then each equals the sum of the coupon's movements strictly before T
            for coupon in coupons:
                assert coupon_balance_at(inquiry_number=coupon, at=at) == expected.get(coupon, 0)
            assert coupon_balances_at(at=at) == expected
            chosen = coupons[:2]
            assert coupon_balances_at(at=at, inquiry_numbers=iter(chosen)) == {
                c: v for c, v in expected.items() if c in chosen
            }

        for coupon in coupons:
            assert coupon_balances_at_many(inquiry_number=coupon, instants=instants) == {
                at: _expected(ledger, at).get(coupon, 0) for at in instants
            }

        transaction.set_rollback(True)  # a fresh ledger for the next example


def test_a_movement_at_exactly_midnight_jst_is_not_in_the_balance_at_that_midnight() -> None:
    # Given a coupon issued 3,000, paid 1,000 at 23:59:59 JST on 2/26 and 500 at exactly 0:00 JST on 2/27
    coupon = CouponFactory(inquiry_number="CB00000042")
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(coupon=coupon, amount_yen=-1000, occurred_at=jst(2023, 2, 26, 23, 59, 59))
    MovementFactory(coupon=coupon, amount_yen=-500, occurred_at=jst(2023, 2, 27))
    midnight = jst(2023, 2, 27)

    # When the balance at 2023-02-27 00:00 JST is asked for, in JST and as 2023-02-26 15:00 UTC
    as_jst = coupon_balance_at(inquiry_number="CB00000042", at=midnight)
    as_utc = coupon_balance_at(inquiry_number="CB00000042", at=dt.datetime(2023, 2, 26, 15, tzinfo=UTC))

    # Then the 23:59:59 payment is in it and the 0:00 payment is not; a microsecond later it is
    assert as_jst == as_utc == 2000
    assert coupon_balances_at(at=midnight) == {"CB00000042": 2000}
    later = midnight + dt.timedelta(microseconds=1)
    assert coupon_balances_at_many(inquiry_number="CB00000042", instants=[midnight, later]) == {
        midnight: 2000,
        later: 1500,
    }


def test_balance_at_a_jst_midnight_is_not_taken_at_utc_midnight() -> None:
    # Given payments at 2/26 23:30 JST (14:30 UTC on 2/26) and 2/27 08:00 JST (23:00 UTC on 2/26)
    coupon = CouponFactory(inquiry_number="CB00000043")
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(coupon=coupon, amount_yen=-100, occurred_at=jst(2023, 2, 26, 23, 30))
    MovementFactory(coupon=coupon, amount_yen=-200, occurred_at=jst(2023, 2, 27, 8))

    # When the balance at 2023-02-27 00:00 JST is asked for
    balance = coupon_balance_at(inquiry_number="CB00000043", at=jst(2023, 2, 27))

    # Then the 23:30 JST payment counts and the 08:00 JST one does not
    assert balance == 2900


def test_coupons_without_movements_before_the_instant_are_absent_and_zero() -> None:
    # Given one coupon issued before the cut-off, one only after it, and one with no movements
    early = MovementFactory(kind="issue", amount_yen=1000, occurred_at=jst(2023, 2, 25)).coupon_id
    late = MovementFactory(kind="issue", amount_yen=1000, occurred_at=jst(2023, 2, 27, 0, 0, 1)).coupon_id
    idle = CouponFactory().inquiry_number

    # When balances at 2023-02-27 00:00 JST are asked for
    all_balances = coupon_balances_at(at=jst(2023, 2, 27))
    chosen = coupon_balances_at(at=jst(2023, 2, 27), inquiry_numbers=[late, idle])

    # Then only the coupon with an earlier movement is listed; the others read as 0 one by one
    assert all_balances == {early: 1000}
    assert chosen == {}
    assert coupon_balance_at(inquiry_number=late, at=jst(2023, 2, 27)) == 0
    assert coupon_balance_at(inquiry_number=idle, at=jst(2023, 2, 27)) == 0
    assert coupon_balances_at_many(inquiry_number=idle, instants=CUT_OFFS) == dict.fromkeys(CUT_OFFS, 0)
    assert coupon_balances_at_many(inquiry_number=idle, instants=[]) == {}


def test_a_coupon_used_up_before_the_instant_is_listed_with_zero() -> None:
    # Given a coupon issued 1,000 and paid 1,000 before the cut-off
    coupon = CouponFactory()
    MovementFactory(coupon=coupon, kind="issue", amount_yen=1000, occurred_at=jst(2023, 2, 24, 9))
    MovementFactory(coupon=coupon, amount_yen=-1000, occurred_at=jst(2023, 2, 24, 12))

    # When balances at 2023-02-27 00:00 JST are asked for
    balances = coupon_balances_at(at=jst(2023, 2, 27))

    # Then it is listed, with 0 (it had movements before the cut-off)
    assert balances == {coupon.inquiry_number: 0}


@pytest.mark.parametrize(
    "ask",
    [
        pytest.param(
            lambda at: coupon_balance_at(inquiry_number="CB00000042", at=at), id="coupon_balance_at"
        ),
        pytest.param(lambda at: coupon_balances_at(at=at), id="coupon_balances_at"),
        pytest.param(
            lambda at: coupon_balances_at_many(inquiry_number="CB00000042", instants=[jst(2023, 2, 27), at]),
            id="coupon_balances_at_many",
        ),
    ],
)
def test_a_naive_instant_is_refused(ask) -> None:
    # Given a naive datetime (no zone: ambiguous between JST and UTC)
    naive = dt.datetime(2023, 2, 27)  # noqa: DTZ001 - the point of the test

    # When a balance at it is asked for
    # Then it is refused
    with pytest.raises(ValueError, match="aware"):
        ask(naive)
