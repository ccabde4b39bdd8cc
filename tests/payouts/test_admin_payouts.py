"""The operations view of payouts: list with filters, masked contacts, the link resend action."""

from __future__ import annotations

import pytest

from notifications.models import Message
from payouts.models import Payout, ReceiptLink
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, jst
from tests.payouts.conftest import payable_entitlement

pytestmark = pytest.mark.django_db

LIST = "/admin/payouts/payout/"


@pytest.fixture
def two_payouts(incident, portal_clock):
    payable_entitlement(incident, final_yen=1_234, coupon=CouponFactory(app_phone="+819011112222"))
    payable_entitlement(incident, final_yen=900, category="1-2", route="callcenter")
    payouts_run()
    portal_clock.set(jst(2023, 4, 3, 9))
    payouts_run()
    return Payout.objects.get(method="points"), Payout.objects.get(method="bank")


def test_operations_see_every_payout_filtered_with_masked_contacts(staff_client, two_payouts) -> None:
    points, bank = two_payouts
    client = staff_client("operations")
    page = client.get(LIST)
    html = page.content.decode()
    assert page.status_code == 200
    assert points.inquiry_number in html
    assert bank.inquiry_number in html
    assert "+819011112222" not in html
    assert "090-****-2222" in html
    assert "送付済み・未表示" in html
    only_bank = client.get(LIST, {"method__exact": "bank"}).content.decode()
    assert bank.inquiry_number in only_bank
    assert points.inquiry_number not in only_bank
    unopened = client.get(LIST, {"link": "unopened"}).content.decode()
    assert points.inquiry_number in unopened
    assert bank.inquiry_number not in unopened
    detail = client.get(f"{LIST}{points.pk}/change/")
    assert detail.status_code == 200
    assert "受取URL" in detail.content.decode()


def test_an_agent_cannot_see_payouts(staff_client, two_payouts) -> None:
    assert staff_client("agent").get(LIST).status_code == 403


def test_operations_resend_a_link_and_the_old_one_is_void(staff_client, two_payouts) -> None:
    points, _bank = two_payouts
    client = staff_client("operations")
    answer = client.post(LIST, {"action": "resend_links", "_selected_action": [points.pk]}, follow=True)
    assert answer.status_code == 200
    assert "1件の受取URLを再送しました。" in answer.content.decode()
    assert ReceiptLink.objects.filter(payout=points).count() == 2
    assert ReceiptLink.objects.filter(payout=points, voided_at__isnull=True).count() == 1
    assert Message.objects.filter(template="receipt_link").count() == 2
    change = points.status_changes.order_by("-pk").first()
    assert change.actor.username == "operations"
    assert "再送" in change.note


def test_the_approver_sees_payouts_but_cannot_resend(staff_client, two_payouts) -> None:
    points, _bank = two_payouts
    client = staff_client("approver")
    assert client.get(LIST).status_code == 200
    client.post(LIST, {"action": "resend_links", "_selected_action": [points.pk]})
    assert ReceiptLink.objects.filter(payout=points).count() == 1
