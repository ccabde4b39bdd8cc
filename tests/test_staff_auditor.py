"""The auditor reads everything and changes nothing: every admin view that could write, and every
admin action, is tried — the list is generated from the admin registry, not written by hand."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from staff.roles import Role
from tests.factories import CouponFactory, MovementFactory, StoreFactory, StoreSaleFactory, jst
from tests.staff import login_verified, make_staff

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[str, str]:
    """A fingerprint of every table's rows (all tables of the project's apps, auth and sessions aside)."""
    fingerprints = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table in {"django_session", "django_admin_log"} or table.startswith("axes_"):
                continue
            cursor.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
            )
            fingerprints[table] = cursor.fetchone()[0]
    return fingerprints


@pytest.fixture
def world(monkeypatch):
    """A little of everything: stores, coupons, movements, till records, entitlements, instructions."""
    store = StoreFactory(store_name="勝浦朝市")
    coupon = CouponFactory(inquiry_number="CB0000000022", expires_on=dt.date(2023, 3, 3))
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    for movement_id, second in (("MD1", 0), ("MD2", 40)):
        MovementFactory(
            movement_id=movement_id,
            coupon=coupon,
            kind="payment",
            amount_yen=-1000,
            store=store,
            occurred_at=jst(2023, 2, 24, 18, 0, second),
        )
    StoreSaleFactory(store=store, amount_yen=1000, occurred_at=jst(2023, 2, 24, 18))
    monkeypatch.setenv("PORTAL_NOW", "2023-04-10T10:00:00+09:00")
    call_command("run_eligibility", stdout=io.StringIO())
    make_staff(Role.AGENT)  # a user, a group membership and a device to try changing


def _admin_urls(model_admin) -> list[tuple[str, str]]:
    """(name, url) of each view of one model admin, custom ones included, for one of its objects."""
    opts = model_admin.model._meta
    obj = model_admin.model._default_manager.order_by("pk").first()
    pk = str(obj.pk) if obj is not None else "1"
    urls = []
    for pattern in model_admin.get_urls():
        name = pattern.name
        if not name:
            continue
        for args in ((), (pk,), (pk, "1")):
            try:
                urls.append((name, reverse(f"admin:{name}", args=args)))
                break
            except NoReverseMatch:
                continue
    assert any(name == f"{opts.app_label}_{opts.model_name}_change" for name, _ in urls)
    return urls


def test_an_auditor_reads_everything_and_changes_nothing(world) -> None:
    auditor = make_staff(Role.AUDITOR)
    client = login_verified(Client(), auditor)
    superuser = make_staff(None)
    before = _snapshot()
    tried = 0

    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        # Every list page can be read, except the second-factor secrets (keys and spare codes)
        listing = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        secret = opts.app_label in {"otp_totp", "otp_static"}
        assert listing.status_code == (403 if secret else 200), opts.label

        # Every view of the admin, posted to with an empty form and with the object's own values
        for name, url in _admin_urls(model_admin):
            if name.endswith("_changelist"):
                continue
            for data in ({}, {"post": "yes", "_save": "1"}):
                response = client.post(url, data)
                tried += 1
                if name.endswith(("_add", "_change", "_delete")):
                    # refused, or sent elsewhere (the call case's change view is its desk page)
                    assert response.status_code in {302, 403}, (url, response.status_code)
                else:  # reading pages may answer a POST as a GET; what matters is that nothing changed
                    assert response.status_code < 500, (url, response.status_code)
                assert _snapshot() == before, f"{url} changed data for the auditor"

        # Every action the admin knows (as a superuser sees them), on every row
        request = RequestFactory().get("/")
        request.user = superuser
        actions = model_admin.get_actions(request)
        request.user = auditor
        assert model_admin.get_actions(request) == {}, f"{opts.label} offers actions to the auditor"
        pks = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)[:50]] or ["1"]
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        for action in actions:
            client.post(changelist, {"action": action, "_selected_action": pks, "index": 0, "post": "yes"})
            tried += 1
            assert _snapshot() == before, f"action {action} on {opts.label} changed data for the auditor"

    assert tried > 30
    # and the auditor did read the pages: a coupon's page opens
    assert client.get(reverse("admin:coupons_coupon_change", args=["CB0000000022"])).status_code == 200
