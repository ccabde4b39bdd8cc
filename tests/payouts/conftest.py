"""Shared givens of the payouts tests: the incident, payable entitlements, payouts in a status."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection

from claims.models import Application, BankAccount, Entitlement, Incident
from claims.services.transitions import entitlement_transition
from config import clock
from payouts.models import BANK_STATUSES, Payout
from tests.claims.conftest import create_incident
from tests.factories import CouponFactory, jst
from tests.notifications.relay import relay  # noqa: F401 - real outbox workers (SIGKILL tests)


def payable_entitlement(
    incident: Incident, *, final_yen: int = 1_200, category: str = "1-1", route: str = "app", coupon=None
) -> Entitlement:
    """An entitlement as the engine leaves it after the final instant: extended, then payable."""
    coupon = coupon or CouponFactory()
    entitlement = Entitlement.objects.create(
        incident=incident,
        coupon=coupon,
        category=category,
        route=route,
        status="extended",
        cutoff_at=jst(2023, 2, 27),
        amount_yen=final_yen,
        valid_until=incident.extension_valid_until,
        found_at=jst(2023, 3, 1),
    )
    return entitlement_transition(
        entitlement_id=entitlement.pk,
        to="payable",
        actor=None,
        note="test",
        changes={"final_balance_yen": final_yen},
    )


def payout_in(incident: Incident, status: str, **fields: object) -> Payout:
    """A payout put straight into ``status`` (behind the transition trigger's back), with the
    fields that status's CHECKs ask for, so a test can start from any point of the machine."""
    from claims.models import BankAccount

    entitlement = payable_entitlement(incident)
    method = "bank" if status in BANK_STATUSES else "points"
    values: dict[str, object] = {
        "brand": "amazon" if status in {"chosen", "ordered", "delivered"} else "",
        "bank_account": None,
    }
    if method == "bank":
        values["bank_account"] = BankAccount.objects.create(
            coupon=entitlement.coupon,
            bank_code="0005",
            branch_code="001",
            account_type="ordinary",
            account_number="1234567",
            holder_kana="ﾁﾊﾞ ﾊﾅｺ",
            created_at=jst(2023, 4, 1),
        )
    values.update(fields)
    now = clock.now()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        payout = Payout.objects.create(
            entitlement=entitlement,
            incident=incident,
            inquiry_number=entitlement.coupon_id,
            method=method,
            amount_yen=entitlement.final_balance_yen,
            status=status,
            contact_channel="sms",
            contact="+819012345678",
            created_at=now,
            updated_at=now,
            **values,
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    return payout


@pytest.fixture
def incident(db) -> Incident:
    """The 2023-02-24 incident as its data migration creates it (again after a flush)."""
    if not Incident.objects.filter(code="regionpay-2023-02-24").exists():
        create_incident()
    return Incident.objects.get(code="regionpay-2023-02-24")


@pytest.fixture
def points_payout(incident: Incident) -> Payout:
    return payout_in(incident, "created")


# The bank-transfer givens (batches, returns): the clock on a batch day, the requester account, a
# maker (運営事務局) and a checker (支払承認者).
from tests.payouts.batching import batch_day, checker, maker, requester  # noqa: E402, F401

AFTER_FINAL = jst(2023, 4, 1, 0, 5)


class PortalClock:
    """Moves the portal clock (``PORTAL_NOW``), which worker processes started later read too."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> None:
        self._monkeypatch = monkeypatch
        self.set(start)

    def set(self, instant: dt.datetime) -> None:
        self.now = instant
        self._monkeypatch.setenv("PORTAL_NOW", instant.isoformat())


@pytest.fixture
def portal_clock(monkeypatch: pytest.MonkeyPatch) -> PortalClock:
    return PortalClock(monkeypatch, AFTER_FINAL)


def application_for(
    entitlement: Entitlement,
    *,
    method: str = "points",
    phone: str = "",
    email: str = "",
    language: str = "ja",
    bank: bool = False,
) -> Application:
    """A submitted (contact-proven) application for the entitlement's coupon."""
    now = jst(2023, 3, 25, 10)
    application = Application.objects.create(
        public_id=uuid.uuid4(),
        incident=entitlement.incident,
        coupon=entitlement.coupon,
        status="submitted",
        name="千葉 花子",
        name_kana="チバ ハナコ",
        phone=phone,
        email=email if not phone else "",
        prefecture_code="12",
        travel_date=dt.date(2023, 2, 23),
        payout_method=method,
        language=language,
        code_hash="x",
        code_sent_at=now,
        reference_number=uuid.uuid4().hex[:12].upper(),
        created_at=now,
        updated_at=now,
        submitted_at=now,
    )
    if bank:
        BankAccount.objects.create(
            application=application,
            coupon=entitlement.coupon,
            bank_code="0005",
            branch_code="001",
            account_type="ordinary",
            account_number="1234567",
            holder_kana="ﾁﾊﾞ ﾊﾅｺ",
            created_at=now,
        )
    return application
