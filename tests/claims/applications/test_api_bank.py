"""Bank transfers through the API (public-api.md §2): bank and branch from zengin-code, holder
names converted to Zengin kana, Japan Post 記号・番号, the account number encrypted at rest."""

from __future__ import annotations

import pytest

from claims.models import BankAccount
from tests.claims.applications.conftest import application_body
from tests.claims.applications.test_api import _submitted, lookup, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    from django.test import Client

    return Client()


BANK_PAYOUT = {
    "method": "bank",
    "bank_code": "0005",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾁﾊﾞ ﾊﾅｺ",
}


def test_bank_transfer_for_an_app_user_is_the_points_not_wanted_application(
    api, portal_clock, entitled_coupon
) -> None:
    app_user = entitled_coupon(("1-1", "app", "extended"))
    response = post(
        api, "/api/v1/applications", application_body(app_user, payout=BANK_PAYOUT), key="bank-app-user"
    )
    assert response.status_code == 201
    account = BankAccount.objects.get()
    assert (account.bank_code, account.branch_code, account.account_type) == ("0005", "001", "ordinary")
    assert account.account_number == "1234567"
    assert account.holder_kana == "ﾁﾊﾞ ﾊﾅｺ"


def test_bank_transfer_for_a_call_center_case_only_once_extended(api, portal_clock, entitled_coupon) -> None:
    undecided = entitled_coupon(("2-2", "callcenter", "found"))
    refused = post(
        api, "/api/v1/applications", application_body(undecided, payout=BANK_PAYOUT), key="bank-2-2-open"
    )
    assert (refused.status_code, refused.json()["outcome"]) == (422, "call_center")
    extended = entitled_coupon(("1-2", "callcenter", "extended"))
    accepted = post(
        api, "/api/v1/applications", application_body(extended, payout=BANK_PAYOUT), key="bank-1-2-ext"
    )
    assert accepted.status_code == 201


def test_account_number_is_encrypted_at_rest(api, portal_clock, paper_coupon) -> None:
    from django.db import connection

    post(
        api, "/api/v1/applications", application_body(paper_coupon, payout=BANK_PAYOUT), key="bank-encrypted"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT account_number FROM claims_bankaccount")
        (stored,) = cursor.fetchone()
    assert "1234567" not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert BankAccount.objects.get().masked_number == "****567"


@pytest.mark.parametrize(
    ("payout", "field"),
    [
        ({**BANK_PAYOUT, "bank_code": "0999"}, "payout.bank_code"),
        ({**BANK_PAYOUT, "branch_code": "999"}, "payout.branch_code"),
        ({**BANK_PAYOUT, "holder_kana": "千葉 花子"}, "payout.holder_kana"),
        ({**BANK_PAYOUT, "account_number": "12345678"}, "payout.account_number"),
    ],
)
def test_bank_details_a_person_can_correct_are_400(api, portal_clock, paper_coupon, payout, field) -> None:
    response = post(
        api, "/api/v1/applications", application_body(paper_coupon, payout=payout), key=f"bank-{field}"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not BankAccount.objects.exists()


def test_japan_post_symbol_and_number_become_branch_and_account(api, portal_clock, paper_coupon) -> None:
    payout = {
        "method": "bank",
        "yucho_symbol": "14030",
        "yucho_number": "12345671",
        "holder_kana": "ちば はなこ",
    }
    response = post(
        api, "/api/v1/applications", application_body(paper_coupon, payout=payout), key="yucho-account"
    )
    assert response.status_code == 201, response.json()
    account = BankAccount.objects.get()
    assert (account.bank_code, account.branch_code, account.account_number) == ("9900", "408", "1234567")
    assert account.holder_kana == "ﾁﾊﾞ ﾊﾅｺ"


def test_status_lookup_bank_transfer_has_next_as_an_object(api, portal_clock, paper_coupon) -> None:
    reference = _submitted(api, paper_coupon, payout=BANK_PAYOUT)
    body = lookup(api, reference, "090-1234-5678").json()
    assert body["next"]["date"] is None
    assert "振" in body["next"]["what"]
