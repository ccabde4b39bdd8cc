"""The call desk's fixtures: a 2-2 / 2-1 / 1-2 ledger run through the real engine, and staff."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Permission, User

from claims.models import Entitlement, Incident
from claims.services.eligibility import eligibility_run
from tests.claims.conftest import INCIDENT_CODE, create_incident
from tests.factories import CouponFactory, MovementFactory, StoreFactory, StoreSaleFactory, jst

# The desk works in March 2023: after the 1-x cut-offs, before the 1-2 deadline (3/27).
CALL_DAY = jst(2023, 3, 10, 11)


@pytest.fixture
def incident(db) -> Incident:
    """The 2023-02-24 incident as its data migration creates it (again after a flush)."""
    if not Incident.objects.filter(code=INCIDENT_CODE).exists():
        create_incident()
    return Incident.objects.get(code=INCIDENT_CODE)


@pytest.fixture
def call_day():
    with time_machine.travel(CALL_DAY, tick=False) as traveller:
        yield traveller


def staff_user(username: str, *perms: str, last_name: str = "", first_name: str = "") -> User:
    user = User.objects.create_user(
        username=username,
        password=f"{username}-pw",
        is_staff=True,
        last_name=last_name,
        first_name=first_name,
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


AGENT_PERMS = (
    "callcenter.add_callcase",
    "callcenter.change_callcase",
    "callcenter.view_callcase",
    "coupons.view_coupon",
    "claims.view_entitlement",
)
SUPERVISOR_PERMS = (*AGENT_PERMS, "callcenter.approve_calldecision", "callcenter.reopen_calldecision")


def agent(username: str = "agent1", **names: str) -> User:
    return staff_user(username, *AGENT_PERMS, **names)


def supervisor(username: str = "super1", **names: str) -> User:
    return staff_user(username, *SUPERVISOR_PERMS, **names)


def build_ledger(*, duplicate_yen: int = 800) -> dict[str, str]:
    """Three coupons: a 2-2 (paid twice 40 s apart), a 2-1 (cash at the till too), a 1-2."""
    store = StoreFactory(store_id="S-TATEYAMA", store_name="館山海鮮市場 本店")
    other_store = StoreFactory(store_id="S-KAMOGAWA", store_name="かもがわシーワールド売店")
    dup = CouponFactory(inquiry_number="DUP0000001", expires_on=dt.date(2023, 2, 26))
    MovementFactory(coupon=dup, kind="issue", amount_yen=5000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(
        coupon=dup,
        movement_id="MDUP-1",
        kind="payment",
        amount_yen=-duplicate_yen,
        store=store,
        request_id="RQ-1",
        occurred_at=jst(2023, 2, 24, 18, 0, 0),
    )
    MovementFactory(
        coupon=dup,
        movement_id="MDUP-2",
        kind="payment",
        amount_yen=-duplicate_yen,
        store=store,
        request_id="RQ-2",
        occurred_at=jst(2023, 2, 24, 18, 0, 40),
    )
    MovementFactory(
        coupon=dup,
        movement_id="MDUP-3",
        kind="payment",
        amount_yen=-300,
        store=other_store,
        request_id="RQ-3",
        occurred_at=jst(2023, 2, 25, 12),
    )
    # The till rang up one coupon sale where the ledger shows two payments.
    StoreSaleFactory(
        store=store,
        receipt_number="R-DUP-1",
        amount_yen=duplicate_yen,
        tender="coupon",
        occurred_at=jst(2023, 2, 24, 18, 0, 5),
    )
    cash = CouponFactory(inquiry_number="CASH000001", expires_on=dt.date(2023, 2, 26))
    MovementFactory(coupon=cash, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(
        coupon=cash,
        movement_id="MCASH-1",
        kind="payment",
        amount_yen=-1200,
        store=store,
        request_id="RQ-C",
        occurred_at=jst(2023, 2, 24, 19, 0),
    )
    StoreSaleFactory(
        store=store,
        receipt_number="R-CASH-1",
        amount_yen=1200,
        tender="cash",
        occurred_at=jst(2023, 2, 24, 19, 3),
    )
    left = CouponFactory(inquiry_number="LEFT120001", expires_on=dt.date(2023, 2, 25))
    MovementFactory(coupon=left, kind="issue", amount_yen=2000, occurred_at=jst(2023, 2, 23, 10))
    return {"dup": dup.pk, "cash": cash.pk, "left": left.pk}


def run_engine(incident: Incident, at: dt.datetime = CALL_DAY) -> None:
    eligibility_run(incident=incident, as_of=at)


def entitlement(inquiry_number: str, category: str) -> Entitlement:
    return Entitlement.objects.get(coupon_id=inquiry_number, category=category)
