"""The receipt page /r/<token> on a phone, without JavaScript, in Japanese and English: the link
from the outbox, the amount and deadline, the five brands, the choice, the confirmation; an
unknown link and one past the deadline. axe-core checks each page (Phone.shot)."""

from __future__ import annotations

import re

import pytest

from notifications.models import Message
from payouts.models import GiftOrder, Payout
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, jst
from tests.payouts.conftest import payable_entitlement

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def link(incident, monkeypatch) -> str:
    monkeypatch.setenv("PORTAL_NOW", jst(2023, 4, 1, 1).isoformat())
    payable_entitlement(incident, final_yen=3_210, coupon=CouponFactory(app_phone="+819011112222"))
    payouts_run()
    monkeypatch.setenv("PORTAL_NOW", jst(2023, 4, 10, 10).isoformat())
    payouts_run()
    body = Message.objects.get(template="receipt_link").body
    return re.search(r"/r/[A-Za-z0-9_-]+", body).group(0)


def test_a_traveller_chooses_a_brand_on_the_phone(phone, link, monkeypatch) -> None:
    phone.visit(link)
    phone.shot("receipt-open")
    text = phone.text()
    if phone.lang == "ja":
        assert "3,210円" in text
        assert "2023年5月31日" in text
        for label in [
            "Amazon ギフトカード",
            "Ponta ポイント",
            "PayPay ポイント",
            "EdyギフトID",
            "nanacoギフト",
        ]:
            assert label in text
    else:
        assert "¥3,210" in text
        assert "Amazon gift card" in text
    # Nothing chosen: the error summary
    phone.page.click("main form button[type=submit]")
    phone.shot("receipt-nothing-chosen")
    assert phone.page.locator(".error-summary").count() == 1
    # PayPay
    phone.page.check('[name="brand"][value="paypay"]')
    phone.page.click("main form button[type=submit]")
    phone.shot("receipt-chosen")
    assert ("選択を受け付けました" if phone.lang == "ja" else "Your choice has been received") in phone.text()
    assert Payout.objects.get().brand == "paypay"
    assert GiftOrder.objects.count() == 1
    # Coming back shows the choice, not the form
    phone.visit(link)
    assert phone.page.locator("main form").count() == 0


def test_an_unknown_and_an_expired_link(phone, link, monkeypatch) -> None:
    phone.visit("/r/" + "A" * 43)
    phone.shot("receipt-unknown")
    assert ("URLが無効です" if phone.lang == "ja" else "This link is not valid") in phone.text()
    monkeypatch.setenv("PORTAL_NOW", jst(2023, 6, 1, 0, 0, 1).isoformat())
    phone.visit(link)
    phone.shot("receipt-expired")
    assert ("受取期限を過ぎました" if phone.lang == "ja" else "The deadline has passed") in phone.text()
