"""Givens of the bank-transfer tests: ready bank payouts, the requester account, the clock, users."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
import time_machine
from django.apps import apps

from claims.models import BankAccount, Incident
from config import clock
from payouts.models import Payout, RequesterAccount
from tests.factories import jst
from tests.payouts.conftest import payable_entitlement
from tests.staff import make_staff

# A Wednesday in May 2023: the default transfer date is the incident's first transfer day,
# Monday 2023-05-15 (transfers_from), a bank business day.
BATCH_DAY = jst(2023, 5, 10, 10)


@pytest.fixture
def batch_day() -> Iterator[None]:
    with time_machine.travel(BATCH_DAY, tick=False):
        yield


def seed_requester_account() -> RequesterAccount:
    """The account as the data migration leaves it (re-made after a transactional test's flush)."""
    if not RequesterAccount.objects.exists():
        importlib.import_module("payouts.migrations.0002_requester_account_demo").seed_requester_account(
            apps, None
        )
    return RequesterAccount.objects.get()


@pytest.fixture
def requester(incident: Incident) -> RequesterAccount:
    return seed_requester_account()


def bank_payout(
    incident: Incident,
    amount_yen: int = 12_345,
    *,
    bank_code: str = "0005",
    branch_code: str = "001",
    account_number: str = "1234567",
    holder_kana: str = "ﾁﾊﾞ ﾊﾅｺ",
    account_type: str = "ordinary",
    status: str = "ready",
    category: str = "1-2",
    contact: str = "+819012345678",
) -> Payout:
    """A bank payout in ``status`` (ready: amount final, account on record), on a fresh coupon."""
    entitlement = payable_entitlement(incident, final_yen=amount_yen, category=category, route="callcenter")
    account = BankAccount.objects.create(
        coupon=entitlement.coupon,
        bank_code=bank_code,
        branch_code=branch_code,
        account_type=account_type,
        account_number=account_number,
        holder_kana=holder_kana,
        created_at=jst(2023, 4, 1),
    )
    now = clock.now()
    return Payout.objects.create(
        entitlement=entitlement,
        incident=incident,
        inquiry_number=entitlement.coupon_id,
        method="bank",
        amount_yen=amount_yen,
        status=status,
        bank_account=account if status != "awaiting_bank_details" else None,
        contact_channel="sms" if contact else "",
        contact=contact,
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
def maker(db):
    return make_staff("operations", username="maker")


@pytest.fixture
def checker(db):
    return make_staff("approver", username="checker")
