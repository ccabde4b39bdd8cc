"""The intake page shows the traveller's application and the messages sent for it, masked."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from claims.models import Entitlement, Incident
from claims.services import applications as svc
from tests.callcenter.conftest import agent
from tests.claims.applications.conftest import application_body, sent_code
from tests.factories import CouponFactory, jst
from tests.staff import login_verified

pytestmark = pytest.mark.django_db

INSIDE_WINDOW = jst(2023, 3, 25, 10)


def _paper_coupon(incident: Incident):
    coupon = CouponFactory(inquiry_number="APPL000001", expires_on=incident.group_1_1_expires_on)
    Entitlement.objects.create(
        incident=incident,
        coupon=coupon,
        category="1-1",
        route="application",
        status="extended",
        amount_yen=2500,
        cutoff_at=incident.group_1_1_cutoff_at,
        valid_until=incident.extension_valid_until,
        found_at=jst(2023, 2, 27, 1),
    )
    return coupon


def test_intake_shows_the_application_and_its_messages_with_contact_and_code_masked(
    incident: Incident, monkeypatch
) -> None:
    # Given a traveller who applied on the site for a bank transfer and entered the code
    monkeypatch.setenv("PORTAL_NOW", INSIDE_WINDOW.isoformat())
    coupon = _paper_coupon(incident)
    payout = {
        "method": "bank",
        "bank_code": "0001",
        "branch_code": "001",
        "account_type": "ordinary",
        "account_number": "7654321",
        "holder_kana": "ﾁﾊﾞ ﾊﾅｺ",
    }
    created = svc.application_create(
        data=application_body(coupon, payout=payout), idempotency_key="intake-app-key"
    )
    code = sent_code(created.application)
    application = svc.application_verify(application_id=created.application.public_id, code=code)

    # When an agent looks the coupon up on the intake page
    client = login_verified(Client(), agent())
    response = client.get(reverse("admin:callcenter_intake"), {"q": coupon.inquiry_number})

    # Then the application, its reference number, payout choice and the messages are there, masked
    assert response.status_code == 200
    page = response.content.decode()
    assert svc.reference_number_display(application.reference_number or "") in page
    assert "受付済み" in page
    assert "銀行振込" in page
    assert "090-****-5678" in page
    assert "09012345678" not in page
    assert "+819012345678" not in page
    assert "****321" in page
    assert "7654321" not in page
    overview = response.context["overview"]
    assert {m["template"] for m in overview.messages} >= {"verification_code"}
    assert all(m["to"] == "090-****-5678" for m in overview.messages)
    assert code not in page  # the verification code is shown masked, as the outbox shows it


def test_intake_says_when_there_is_no_application(incident: Incident, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_NOW", INSIDE_WINDOW.isoformat())
    coupon = _paper_coupon(incident)
    client = login_verified(Client(), agent())
    page = client.get(reverse("admin:callcenter_intake"), {"q": coupon.inquiry_number}).content.decode()
    assert "このクーポンの申請はありません。" in page
    assert "送ったメッセージはありません。" in page


def test_an_application_is_audited_without_its_personal_data(incident: Incident, monkeypatch) -> None:
    from pghistory.models import Events

    monkeypatch.setenv("PORTAL_NOW", INSIDE_WINDOW.isoformat())
    coupon = _paper_coupon(incident)
    created = svc.application_create(data=application_body(coupon), idempotency_key="audit-app-key")
    application = svc.application_verify(
        application_id=created.application.public_id, code=sent_code(created.application)
    )

    events = list(Events.objects.tracks(application).order_by("pgh_created_at", "pgh_id"))
    assert [e.pgh_label for e in events][:1] == ["insert"]
    update = next(e for e in events if e.pgh_label == "update")
    assert update.pgh_diff["status"] == ["awaiting_verification", "submitted"]
    for event in events:
        text = str(event.pgh_data)
        assert "千葉" not in text
        assert "チバ" not in text
        assert "5678" not in text  # the phone number
        assert not {"name", "name_kana", "phone", "email", "code_hash", "response_body"} & set(event.pgh_data)
