"""Staff side of the applications: search as people type, filter by state, the coupon's
entitlements, the messages and the history on each, the dashboard's counts by state and day,
and bank account numbers masked for staff without the operations role."""

from __future__ import annotations

import pytest
from django.test import Client

from claims.models import Application, BankAccount
from claims.services import applications as svc
from tests.claims.applications.conftest import application_body, sent_code
from tests.factories import jst

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_client) -> Client:
    """A superuser signed in with a verified second factor (tests/staff.py)."""
    return staff_client(None)


@pytest.fixture
def submitted(portal_clock, paper_coupon) -> Application:
    created = svc.application_create(data=application_body(paper_coupon), idempotency_key="admin-test-key")
    return svc.application_verify(
        application_id=created.application.public_id, code=sent_code(created.application)
    )


@pytest.fixture
def awaiting(portal_clock, entitled_coupon) -> Application:
    coupon = entitled_coupon(("1-1", "application", "extended"))
    body = application_body(coupon, contact={"email": "taro@example.jp"})
    return svc.application_create(data=body, idempotency_key="admin-test-key-2").application


def _listed(client: Client, query: str) -> set[str]:
    response = client.get("/admin/claims/application/", {"q": query})
    assert response.status_code == 200
    return {str(a.pk) for a in response.context["cl"].result_list}


def test_search_by_reference_inquiry_number_and_phone_as_typed(admin_client, submitted, awaiting) -> None:
    shown = svc.reference_number_display(submitted.reference_number or "")
    only_submitted = {str(submitted.pk)}
    assert _listed(admin_client, shown.lower()) == only_submitted
    assert _listed(admin_client, submitted.coupon_id.lower()) == only_submitted
    assert _listed(admin_client, "０９０－１２３４－５６７８") == only_submitted
    assert _listed(admin_client, "+819012345678") == only_submitted
    assert _listed(admin_client, "taro@example.jp") == {str(awaiting.pk)}
    assert _listed(admin_client, "nothing-like-it") == set()


def test_filter_by_state(admin_client, submitted, awaiting) -> None:
    response = admin_client.get("/admin/claims/application/", {"status__exact": "awaiting_verification"})
    assert [a.pk for a in response.context["cl"].result_list] == [awaiting.pk]


def test_application_page_shows_coupon_entitlement_messages_and_history(admin_client, submitted) -> None:
    response = admin_client.get(f"/admin/claims/application/{submitted.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert submitted.coupon_id in page
    assert "1-1" in page  # the entitlement
    assert "verification_code" in page
    assert "application_confirmation" in page
    assert "確認コードの入力待ち" in page
    assert "受付済み" in page
    assert svc.reference_number_display(submitted.reference_number or "") in page


def test_account_number_masked_for_staff_without_the_operations_role(
    portal_clock, paper_coupon, admin_client, staff_client
) -> None:
    payout = {
        "method": "bank",
        "bank_code": "0005",
        "branch_code": "001",
        "account_type": "ordinary",
        "account_number": "7654321",
        "holder_kana": "ﾁﾊﾞ ﾊﾅｺ",
    }
    created = svc.application_create(
        data=application_body(paper_coupon, payout=payout), idempotency_key="masked-account"
    )
    agent = staff_client("agent")  # the call desk: may view applications, not read account numbers
    operations = staff_client("operations")
    path = f"/admin/claims/application/{created.application.pk}/change/"
    masked = agent.get(path).content.decode()
    assert "****321" in masked
    assert "7654321" not in masked
    assert "7654321" in operations.get(path).content.decode()
    assert "7654321" in admin_client.get(path).content.decode()
    assert BankAccount.objects.get().account_number == "7654321"


def test_dashboard_counts_applications_by_state_and_day(admin_client, portal_clock, entitled_coupon) -> None:
    for day, n in ((24, 2), (25, 1)):
        portal_clock.set(jst(2023, 3, day, 23, 30))  # late evening in Japan: still that day
        for i in range(n):
            coupon = entitled_coupon(("1-1", "application", "extended"))
            svc.application_create(data=application_body(coupon), idempotency_key=f"dash-{day}-{i}-key")
    response = admin_client.get("/admin/claims/entitlement/dashboard/")
    assert response.status_code == 200
    counts = response.context["applications"]
    assert [(row["day"].day, row["counts"][0], row["total"]) for row in counts["days"]] == [
        (25, 1, 1),
        (24, 2, 2),
    ]
    assert counts["total"] == 3
    assert "申請の件数" in response.content.decode()
