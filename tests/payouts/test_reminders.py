"""Reminders (issue #10 §4): each rung at most once per subject, never after its deadline, with
an opt-out. Run through run_payouts, as beat does."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from claims.models import Application
from notifications.models import Message
from payouts.models import Reminder, ReminderOptOut
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, jst
from tests.payouts.conftest import application_for, payable_entitlement

pytestmark = pytest.mark.django_db

STOP_RE = re.compile(r"/r/stop/(\S+)")


def reminders(template: str) -> list[Message]:
    return list(Message.objects.filter(template=template).order_by("pk"))


@pytest.fixture
def link_sent(incident, portal_clock):
    """An app user's points payout whose receipt link went out on 4/3 09:00."""
    payable_entitlement(incident, final_yen=2_345, coupon=CouponFactory(app_phone="+819011112222"))
    payouts_run()
    portal_clock.set(jst(2023, 4, 3, 9))
    payouts_run()
    return portal_clock


def test_an_unopened_link_is_reminded_once_after_7_days(link_sent) -> None:
    link_sent.set(jst(2023, 4, 10, 8, 59))
    payouts_run()
    assert reminders("reminder_link_not_opened") == []
    link_sent.set(jst(2023, 4, 10, 9))
    payouts_run()
    payouts_run()
    (message,) = reminders("reminder_link_not_opened")
    assert (message.channel, message.to) == ("sms", "+819011112222")
    assert "2,345円" in message.body
    assert Reminder.objects.get().rung == "link_not_opened"


def test_no_choice_by_5_24_is_reminded_once_and_nothing_after_the_deadline(link_sent) -> None:
    link_sent.set(jst(2023, 5, 23, 23, 59))
    payouts_run()
    assert reminders("reminder_not_chosen") == []
    link_sent.set(jst(2023, 5, 24))
    payouts_run()
    link_sent.set(jst(2023, 5, 30))
    payouts_run()
    (message,) = reminders("reminder_not_chosen")
    assert "2023年5月31日" in message.subject
    Reminder.objects.all().delete()  # even a subject never reminded gets nothing after 5/31
    link_sent.set(jst(2023, 6, 1))
    payouts_run()
    assert Reminder.objects.count() == 0


def test_the_opt_out_link_stops_every_later_reminder(link_sent) -> None:
    link_sent.set(jst(2023, 4, 10, 9))
    payouts_run()
    (message,) = reminders("reminder_link_not_opened")
    path = "/r/stop/" + STOP_RE.search(message.body).group(1)
    client = Client()
    page = client.get(path)
    assert page.status_code == 200
    assert ReminderOptOut.objects.count() == 0  # a GET (a link preview) changes nothing
    assert "を停止しました" in client.post(path).content.decode()
    assert ReminderOptOut.objects.count() == 1
    assert "+819011112222" not in str(list(ReminderOptOut.objects.values()))
    link_sent.set(jst(2023, 5, 24))
    payouts_run()
    assert reminders("reminder_not_chosen") == []
    assert Client().get("/r/stop/forged-value").status_code == 404


def test_not_applied_by_4_20_on_the_application_route_where_the_platform_gave_a_contact(
    incident, portal_clock
) -> None:
    owed = payable_entitlement(
        incident, route="application", coupon=CouponFactory(app_email="left-the-app@example.jp")
    )
    applied = payable_entitlement(
        incident, route="application", coupon=CouponFactory(app_email="a@example.jp")
    )
    application_for(applied, email="a@example.jp")
    payable_entitlement(incident, route="application", coupon=CouponFactory())  # no contact at all
    portal_clock.set(jst(2023, 4, 19, 23))
    payouts_run()
    assert reminders("reminder_not_applied") == []
    portal_clock.set(jst(2023, 4, 20, 9))
    payouts_run()
    payouts_run()
    (message,) = reminders("reminder_not_applied")
    assert message.to == "left-the-app@example.jp"
    assert Reminder.objects.get(rung="not_applied").subject == f"coupon:{owed.coupon_id}"


def test_a_code_never_entered_is_reminded_once_until_the_application_deadline(incident, portal_clock) -> None:
    entitlement = payable_entitlement(incident, route="application")
    application = application_for(entitlement, phone="+819055556666")
    Application.objects.filter(pk=application.pk).update(status="awaiting_verification")
    portal_clock.set(jst(2023, 3, 26, 9, 59))
    payouts_run()
    assert reminders("reminder_code_not_entered") == []
    portal_clock.set(jst(2023, 3, 26, 10))
    payouts_run()
    portal_clock.set(jst(2023, 3, 28))
    payouts_run()
    (message,) = reminders("reminder_code_not_entered")
    assert message.to == "+819055556666"


def test_the_database_holds_one_reminder_per_rung_and_subject(incident) -> None:
    Reminder.objects.create(
        incident=incident, rung="not_chosen", subject="payout:1", sent_at=jst(2023, 5, 24)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Reminder.objects.create(
            incident=incident, rung="not_chosen", subject="payout:1", sent_at=jst(2023, 5, 25)
        )
    Reminder.objects.create(
        incident=incident, rung="link_not_opened", subject="payout:1", sent_at=jst(2023, 5, 25)
    )
