"""run_payouts' first step: one payout per payable entitlement once the final instant has passed."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import connection

from claims.models import Entitlement
from payouts.models import Payout, PayoutStatusChange
from payouts.services.creation import payouts_create
from tests.factories import CouponFactory, jst
from tests.payouts.conftest import application_for, payable_entitlement

pytestmark = pytest.mark.django_db


def test_nothing_is_created_before_the_final_instant(incident, portal_clock) -> None:
    # Given a payable entitlement and the clock one second before 2023-04-01 00:00 JST
    payable_entitlement(incident)
    portal_clock.set(jst(2023, 3, 31, 23, 59, 59))
    # When payouts are created
    result = payouts_create(incident=incident)
    # Then none is
    assert result.due is False
    assert not Payout.objects.exists()


def test_each_payable_entitlement_gets_one_payout_with_its_method_amount_and_destination(
    incident, portal_clock
) -> None:
    # Given: an app user (1-1, app route) with a registered mobile
    app_user = payable_entitlement(incident, final_yen=1_500, coupon=CouponFactory(app_phone="+819011112222"))
    # an app user with a landline only and an e-mail (SMS goes to mobiles only)
    landline = payable_entitlement(
        incident, final_yen=700, coupon=CouponFactory(app_phone="+81431234567", app_email="a@example.jp")
    )
    # a paper-only traveller who applied for points by e-mail
    applied = payable_entitlement(incident, final_yen=2_000, route="application")
    points_app = application_for(applied, email="hanako@example.jp", language="en")
    # a 1-2 traveller (bank by default) with no account on record
    one_two = payable_entitlement(incident, final_yen=900, category="1-2", route="callcenter")
    # a traveller who applied for a bank transfer with an account
    wants_bank = payable_entitlement(incident, final_yen=3_000, route="application")
    bank_app = application_for(wants_bank, method="bank", phone="+819033334444", bank=True)
    # a flagged entitlement (要確認 holds money) and one the engine found used up
    flagged = payable_entitlement(incident, final_yen=400)
    Entitlement.objects.filter(pk=flagged.pk).update(needs_review=True, review_note="再判定で金額が変化")
    # When the clock has passed the final instant
    result = payouts_create(incident=incident)
    # Then each payable, unflagged entitlement has exactly one payout
    assert result.by_status == {"created": 3, "awaiting_bank_details": 1, "ready": 1}
    got = {
        p.entitlement_id: (p.method, p.status, p.amount_yen, p.contact_channel, p.contact, p.application_id)
        for p in Payout.objects.all()
    }
    assert got == {
        app_user.pk: ("points", "created", 1_500, "sms", "+819011112222", None),
        landline.pk: ("points", "created", 700, "email", "a@example.jp", None),
        applied.pk: ("points", "created", 2_000, "email", "hanako@example.jp", points_app.pk),
        one_two.pk: ("bank", "awaiting_bank_details", 900, "", "", None),
        wants_bank.pk: ("bank", "ready", 3_000, "sms", "+819033334444", bank_app.pk),
    }
    assert Payout.objects.get(entitlement=wants_bank).bank_account == bank_app.bank_account
    assert Payout.objects.get(entitlement=app_user).inquiry_number == app_user.coupon_id
    # and each creation is a status-change row from nothing
    assert sorted(PayoutStatusChange.objects.values_list("from_status", "to_status")) == sorted(
        [("", "created")] * 3 + [("", "awaiting_bank_details"), ("", "ready")]
    )


def test_run_payouts_is_idempotent_and_prints_one_line(incident, portal_clock, capsys) -> None:
    payable_entitlement(incident, coupon=CouponFactory(app_phone="+819011112222"))
    portal_clock.set(jst(2023, 4, 1, 9))  # after the final instant, before links_from (4/3)
    call_command("run_payouts")
    first = capsys.readouterr().out
    call_command("run_payouts")
    second = capsys.readouterr().out
    assert first.count("\n") == 1
    assert second.count("\n") == 1
    assert "created 1 payouts (created 1)" in first
    assert "receipt links not due" in first
    assert "created 0 payouts" in second
    assert Payout.objects.count() == 1
    assert PayoutStatusChange.objects.count() == 1


def test_run_payouts_with_an_unknown_incident_fails_and_changes_nothing(incident, portal_clock) -> None:
    from django.core.management.base import CommandError

    payable_entitlement(incident)
    with pytest.raises(CommandError, match="no incident"):
        call_command("run_payouts", "--incident", "nope")
    assert not Payout.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_create_each_payout_once(incident, portal_clock) -> None:
    # Given 200 payable entitlements
    for _ in range(200):
        payable_entitlement(incident, coupon=CouponFactory(app_email="x@example.jp"))
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            results.append(payouts_create(incident=incident).total)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # When two runs start at the same instant on two connections
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then every entitlement has exactly one payout and one creation row, split between the runs
    assert not errors
    assert sorted(results)[1] > 0
    assert sum(results) == 200
    assert Payout.objects.count() == 200
    assert PayoutStatusChange.objects.count() == 200


def test_a_later_application_gives_its_contact_and_a_later_account_makes_a_bank_payout_ready(
    incident, portal_clock
) -> None:
    from claims.models import BankAccount

    # Given a paper-only traveller's points payout with nowhere to send, and a 1-2 bank payout
    paper = payable_entitlement(incident, final_yen=800, route="application")
    one_two = payable_entitlement(incident, final_yen=900, category="1-2", route="callcenter")
    payouts_create(incident=incident)
    assert Payout.objects.get(entitlement=paper).contact == ""
    # When the traveller applies (points, by SMS) and the call desk takes the 1-2 account
    application = application_for(paper, phone="+819055556666")
    BankAccount.objects.create(
        coupon=one_two.coupon,
        bank_code="0005",
        branch_code="001",
        account_type="ordinary",
        account_number="7654321",
        holder_kana="ｽｽﾞｷ ｲﾁﾛｳ",
        created_at=jst(2023, 4, 5),
    )
    again = payouts_create(incident=incident)
    # Then the payouts are completed, once, with the bank payout's move recorded
    assert (again.total, again.contacts_attached, again.accounts_attached) == (0, 1, 1)
    points = Payout.objects.get(entitlement=paper)
    assert (points.application_id, points.contact_channel, points.contact) == (
        application.pk,
        "sms",
        "+819055556666",
    )
    bank = Payout.objects.get(entitlement=one_two)
    assert bank.status == "ready"
    assert bank.bank_account.holder_kana == "ｽｽﾞｷ ｲﾁﾛｳ"
    assert bank.status_changes.filter(from_status="awaiting_bank_details", to_status="ready").count() == 1
    third = payouts_create(incident=incident)
    assert (third.contacts_attached, third.accounts_attached) == (0, 0)
