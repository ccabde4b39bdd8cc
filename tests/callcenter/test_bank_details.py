"""Bank details taken by phone: the site's validation and encryption, over HTTP on the desk."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from callcenter.models import CallCaseEvent
from callcenter.services import Answers, call_case_open
from claims.models import BankAccount, Entitlement, Incident
from tests.callcenter.conftest import agent, build_ledger, run_engine, staff_user
from tests.staff import login_verified

pytestmark = pytest.mark.django_db

GOOD = {
    "action": "bank",
    "bank_code": "０００１",  # full width, as typed on a phone keyboard
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "765-4321",
    "holder_kana": "ちば はなこ",
}


@pytest.fixture
def left_case(incident: Incident, call_day):
    """A 1-2 traveller on the line (found, owed once the request is recorded)."""
    numbers = build_ledger()
    run_engine(incident)
    user = agent()
    case = call_case_open(incident=incident, agent=user, answers=Answers(inquiry_number=numbers["left"]))
    return case, user


def _desk(case) -> str:
    return reverse("admin:callcenter_desk", args=[case.pk])


def test_an_agent_takes_bank_details_validated_and_encrypted_as_the_site_does(left_case) -> None:
    case, user = left_case
    client = login_verified(Client(), user)

    response = client.post(_desk(case), GOOD)

    assert response.status_code == 302
    account = BankAccount.objects.get()
    assert (account.coupon_id, account.application_id) == (case.coupon_id, None)
    assert (account.bank_code, account.branch_code, account.account_type) == ("0001", "001", "ordinary")
    assert account.account_number == "7654321"
    assert account.holder_kana == "ﾁﾊﾞ ﾊﾅｺ"  # Zengin half-width kana, as on the site
    with connection.cursor() as cursor:
        cursor.execute("SELECT account_number FROM claims_bankaccount")
        (stored,) = cursor.fetchone()
    assert "7654321" not in stored  # encrypted at rest
    event = case.events.get(kind=CallCaseEvent.Kind.BANK_DETAILS)
    assert event.actor == user
    assert "****321" in event.note
    assert "7654321" not in event.note
    page = client.get(_desk(case)).content.decode()
    assert "****321" in page
    assert "7654321" not in page


def test_a_japan_post_bank_symbol_and_number_become_branch_and_account(left_case) -> None:
    case, user = left_case
    client = login_verified(Client(), user)

    response = client.post(
        _desk(case),
        {"action": "bank", "yucho_symbol": "14030", "yucho_number": "12345671", "holder_kana": "チバ タロウ"},
    )

    assert response.status_code == 302
    account = BankAccount.objects.get()
    assert (account.bank_code, account.branch_code, account.account_number) == ("9900", "408", "1234567")


def test_wrong_bank_details_are_named_field_by_field_and_nothing_is_stored(left_case) -> None:
    case, user = left_case
    client = login_verified(Client(), user)

    response = client.post(
        _desk(case), {**GOOD, "bank_code": "9999", "account_number": "12345678", "holder_kana": "千葉花子"}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "口座情報を確かめてください" in page
    assert "この金融機関コードの金融機関は見つかりません。" in page
    assert "口座番号（7桁までの数字）を入力してください。" in page
    assert response.context["bank_form"].errors["holder_kana"]  # kanji: the kana reading is asked for
    assert not BankAccount.objects.exists()
    assert not case.events.filter(kind=CallCaseEvent.Kind.BANK_DETAILS).exists()


def test_no_bank_details_for_a_coupon_owed_nothing(left_case) -> None:
    case, user = left_case
    Entitlement.objects.filter(coupon_id=case.coupon_id).update(status=Entitlement.Status.REJECTED)
    client = login_verified(Client(), user)

    response = client.post(_desk(case), GOOD)

    assert response.status_code == 400
    assert "支払う補償がないため" in response.content.decode()
    assert not BankAccount.objects.exists()


def test_staff_who_may_only_look_cannot_take_bank_details(left_case) -> None:
    case, _ = left_case
    viewer = staff_user("viewer", "callcenter.view_callcase", "coupons.view_coupon")
    client = login_verified(Client(), viewer)

    response = client.post(_desk(case), GOOD)

    assert response.status_code == 403
    assert not BankAccount.objects.exists()


def test_bank_details_taken_by_phone_are_audited_with_the_agent_and_never_in_plain_text(left_case) -> None:
    from pghistory.models import Events

    case, user = left_case
    client = login_verified(Client(), user)

    client.post(_desk(case), GOOD)

    account = BankAccount.objects.get()
    (event,) = Events.objects.tracks(account).filter(pgh_label="insert")
    assert event.pgh_context["user"] == user.pk
    assert event.pgh_context["url"] == _desk(case)
    assert "holder_kana" not in event.pgh_data
    assert event.pgh_data["account_number"] not in {"", "7654321"}  # the ciphertext only
    assert "7654321" not in str(event.pgh_data)
    assert "ﾁﾊﾞ" not in str(event.pgh_data)


def test_the_audit_page_shows_the_bank_account_taken_without_its_number(left_case) -> None:
    from staff.roles import Role
    from tests.staff import make_staff

    case, user = left_case
    login_verified(Client(), user).post(_desk(case), GOOD)
    account = BankAccount.objects.get()
    auditor = login_verified(Client(), make_staff(Role.AUDITOR))

    response = auditor.get("/admin/audit/", {"model": "claims.BankAccount", "object_id": account.pk})

    page = response.content.decode()
    assert response.status_code == 200
    assert "振込先口座" in page
    assert "agent1" in page
    assert "7654321" not in page
    assert "ﾁﾊﾞ ﾊﾅｺ" not in page
