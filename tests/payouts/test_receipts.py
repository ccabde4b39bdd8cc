"""Receipt links through the outbox, and /api/v1/receipts/{token} (public-api.md §6)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client

from notifications.models import Message
from payouts.models import GiftOrder, Payout, PayoutStatusChange, ReceiptLink
from payouts.services.links import LinkError, link_resend, links_queue, payouts_expire
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, jst
from tests.payouts.conftest import application_for, payable_entitlement

pytestmark = pytest.mark.django_db

LINKS_FROM = jst(2023, 4, 3, 9)
TOKEN_RE = re.compile(r"/r/([A-Za-z0-9_-]+)")


def token_of(message: Message) -> str:
    match = TOKEN_RE.search(message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def sent(incident, portal_clock):
    """One app user's points payout with its link queued on 4/3; returns (payout, token)."""
    payable_entitlement(incident, final_yen=2_345, coupon=CouponFactory(app_phone="+819011112222"))
    payouts_run()
    portal_clock.set(LINKS_FROM)
    payouts_run()
    payout = Payout.objects.get()
    return payout, token_of(Message.objects.get(template="receipt_link"))


def test_no_link_before_links_from_then_one_link_per_points_payout(incident, portal_clock) -> None:
    # Given two points payouts (one with no contact at all) and a bank payout
    payable_entitlement(incident, coupon=CouponFactory(app_phone="+819011112222"))
    payable_entitlement(incident, coupon=CouponFactory())
    payable_entitlement(
        incident, category="1-2", route="callcenter", coupon=CouponFactory(app_email="b@example.jp")
    )
    payouts_run()
    # When the runs happen on 4/2 23:59 JST, then 4/3 00:00 JST, then again
    portal_clock.set(jst(2023, 4, 2, 23, 59, 59))
    assert links_queue(incident=incident).due is False
    portal_clock.set(jst(2023, 4, 3))
    first = links_queue(incident=incident)
    again = links_queue(incident=incident)
    # Then exactly one link went out, to the payout with a contact, and it moved to link_sent
    assert (first.queued, again.queued) == (1, 0)
    message = Message.objects.get(template="receipt_link")
    assert message.to == "+819011112222"
    assert message.channel == "sms"
    payout = Payout.objects.get(contact="+819011112222")
    assert payout.status == "link_sent"
    assert Payout.objects.get(method="points", contact="").status == "created"
    assert Payout.objects.get(method="bank").status == "awaiting_bank_details"
    assert PayoutStatusChange.objects.filter(payout=payout, to_status="link_sent").count() == 1


def test_the_message_carries_the_url_amount_and_deadline_and_only_the_hash_is_stored(sent) -> None:
    _payout, token = sent
    message = Message.objects.get(template="receipt_link")
    assert f"/r/{token}" in message.body
    assert "2,345円" in message.body
    assert "2023年5月31日" in message.body
    # ≥ 128 random bits: 43 URL-safe characters are 256 bits
    assert len(token) >= 22
    link = ReceiptLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(ReceiptLink.objects.values()), default=str)
    # staff see the body with the link masked
    assert token not in message.body_shown
    # and it expires at the end of the receipt deadline, Japan time
    assert link.expires_at == jst(2023, 6, 1)


def test_an_english_application_gets_the_english_message_with_japanese(incident, portal_clock) -> None:
    entitlement = payable_entitlement(incident, final_yen=1_000, route="application")
    application_for(entitlement, email="alice@example.com", language="en")
    payouts_run()
    portal_clock.set(LINKS_FROM)
    payouts_run()
    message = Message.objects.get(template="receipt_link")
    assert message.language == "en"
    assert message.to == "alice@example.com"
    assert "1,000 yen" in message.body
    assert "受取期限" in message.body
    assert message.reference == entitlement.coupon.applications.get().reference_number


def test_get_shows_amount_deadline_brands(sent) -> None:
    _payout, token = sent
    answer = Client().get(f"/api/v1/receipts/{token}")
    assert answer.status_code == 200
    body = answer.json()
    assert {k: body[k] for k in ("amount_yen", "deadline", "status", "brands", "choice")} == {
        "amount_yen": 2_345,
        "deadline": "2023-05-31",
        "status": "open",
        "brands": ["amazon", "ponta", "paypay", "edy", "nanaco"],
        "choice": None,
    }
    assert body["message"]
    assert ReceiptLink.objects.get().opened_at is not None


def test_choose_then_same_brand_again_then_another_brand(sent) -> None:
    payout, token = sent
    client = Client()
    url = f"/api/v1/receipts/{token}"
    first = client.post(url, {"brand": "paypay"}, content_type="application/json")
    assert first.status_code == 201
    assert {k: first.json()[k] for k in ("status", "choice", "order")} == {
        "status": "chosen",
        "choice": "paypay",
        "order": {"status": "queued"},
    }
    again = client.post(url, {"brand": "paypay"}, content_type="application/json")
    assert (again.status_code, again.content) == (201, first.content)
    other = client.post(url, {"brand": "amazon"}, content_type="application/json")
    assert other.status_code == 409
    # one order, the payout chosen with the first brand, and GET says chosen
    assert GiftOrder.objects.count() == 1
    order = GiftOrder.objects.get()
    assert (order.brand, order.external_id, order.amount_yen, order.status) == (
        "paypay",
        str(payout.pk),
        2_345,
        "queued",
    )
    assert Payout.objects.get().status == "chosen"
    assert Payout.objects.get().brand == "paypay"
    got = client.get(url).json()
    assert (got["status"], got["choice"]) == ("chosen", "paypay")


def test_an_unknown_brand_is_a_400_and_changes_nothing(sent) -> None:
    _payout, token = sent
    answer = Client().post(f"/api/v1/receipts/{token}", {"brand": "bitcoin"}, content_type="application/json")
    assert answer.status_code == 400
    assert "brand" in answer.json()["errors"]
    assert Payout.objects.get().status == "link_sent"
    assert not GiftOrder.objects.exists()


def test_every_unknown_token_gets_the_same_404_bytes(sent) -> None:
    _payout, token = sent
    client = Client()
    bodies = set()
    for bad in ["x", "A" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), "%00", "a" * 300]:
        for answer in (
            client.get(f"/api/v1/receipts/{bad}"),
            client.post(f"/api/v1/receipts/{bad}", {"brand": "edy"}, content_type="application/json"),
        ):
            assert answer.status_code == 404
            bodies.add(answer.content)
    assert len(bodies) == 1
    assert Payout.objects.get().status == "link_sent"


def test_after_the_deadline_the_choice_is_refused_with_410_and_run_payouts_expires(
    sent, portal_clock
) -> None:
    payout, token = sent
    portal_clock.set(jst(2023, 5, 31, 23, 59, 59))
    assert Client().get(f"/api/v1/receipts/{token}").json()["status"] == "open"
    portal_clock.set(jst(2023, 6, 1))
    url = f"/api/v1/receipts/{token}"
    assert Client().get(url).json()["status"] == "expired"
    answer = Client().post(url, {"brand": "edy"}, content_type="application/json")
    assert answer.status_code == 410
    assert not GiftOrder.objects.exists()
    run = payouts_run()
    assert "expired 1" in run.summary()
    assert Payout.objects.get().status == "expired"
    assert payouts_expire(incident=payout.incident).expired == 0  # idempotent


def test_a_choice_made_in_time_is_not_expired(sent, portal_clock) -> None:
    _payout, token = sent
    Client().post(f"/api/v1/receipts/{token}", {"brand": "nanaco"}, content_type="application/json")
    portal_clock.set(jst(2023, 6, 2))
    payouts_run()
    assert Payout.objects.get().status == "chosen"


def test_resend_voids_the_old_token(sent) -> None:
    payout, old = sent
    link_resend(payout_id=payout.pk, actor=None)
    new = token_of(Message.objects.filter(template="receipt_link").order_by("-pk").first())
    assert new != old
    assert Client().get(f"/api/v1/receipts/{old}").status_code == 404
    assert Client().get(f"/api/v1/receipts/{new}").status_code == 200
    assert ReceiptLink.objects.filter(voided_at__isnull=True).count() == 1
    assert Message.objects.filter(template="receipt_link").count() == 2


def test_resend_is_refused_once_chosen_and_sends_nothing(sent) -> None:
    payout, token = sent
    Client().post(f"/api/v1/receipts/{token}", {"brand": "ponta"}, content_type="application/json")
    with pytest.raises(LinkError):
        link_resend(payout_id=payout.pk, actor=None)
    assert Message.objects.filter(template="receipt_link").count() == 1
    assert Client().get(f"/api/v1/receipts/{token}").status_code == 200


def test_the_receipt_page_takes_the_choice_without_javascript(sent) -> None:
    _payout, token = sent
    client = Client()
    page = client.get(f"/r/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script" not in html
    for label in ["Amazon ギフトカード", "Ponta ポイント", "PayPay ポイント", "EdyギフトID", "nanacoギフト"]:
        assert label in html
    assert "2,345円" in html
    empty = client.post(f"/r/{token}", {})
    assert empty.status_code == 400
    assert "受け取るポイントを選んでください。" in empty.content.decode()
    chosen = client.post(f"/r/{token}", {"brand": "edy"})
    assert chosen.status_code == 200
    assert "選択を受け付けました" in chosen.content.decode()
    assert Payout.objects.get().brand == "edy"
    assert client.get("/r/not-a-token").status_code == 404


def test_the_receipt_page_in_english(sent) -> None:
    _payout, token = sent
    page = Client().get(f"/r/{token}", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert 'lang="en"' in html
    assert "Amazon gift card" in html
    assert "¥2,345" in html
