"""The public site's headers and forms, through Django's test client (no browser needed)."""

from __future__ import annotations

import re

import pytest

from tests.factories import jst

pytestmark = pytest.mark.django_db

PAGES = ["/", "/apply/coupon/", "/status/"]


@pytest.fixture(autouse=True)
def inside_window(monkeypatch, incident):
    monkeypatch.setenv("PORTAL_NOW", jst(2023, 4, 10, 10).isoformat())


def _csp(response) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in response["Content-Security-Policy"].split(";")
        if part.strip()
    }


@pytest.mark.parametrize("path", PAGES)
def test_public_pages_forbid_inline_script_and_send_hsts_and_referrer_policy(client, path):
    response = client.get(path, secure=True, follow=True)
    assert response.status_code == 200
    csp = _csp(response)
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["Referrer-Policy"] == "same-origin"
    html = response.content.decode()
    assert "<script" not in html
    assert ' style="' not in html
    assert len(response.content) < 100_000


@pytest.mark.parametrize("path", PAGES)
def test_every_form_carries_a_csrf_token(client, path):
    html = client.get(path, follow=True).content.decode()
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
    assert forms
    for form in forms:
        assert 'name="csrfmiddlewaretoken"' in form


def test_a_post_without_the_csrf_token_is_refused(incident):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/status/", {"reference_number": "AAAA-BBBB-CC", "contact": "090-1234-5678"})
    assert response.status_code == 403


def test_only_the_staff_admin_may_use_inline_styles(client):
    response = client.get("/admin/login/")
    assert "'unsafe-inline'" in _csp(response)["style-src"]
    assert "'unsafe-inline'" not in _csp(response)["script-src"]
    assert "'unsafe-inline'" not in _csp(client.get("/"))["style-src"]


def test_staff_no_longer_land_on_the_home_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "申請をはじめる" in response.content.decode()


def test_apply_outside_the_window_says_so_and_offers_no_form(client, monkeypatch):
    monkeypatch.setenv("PORTAL_NOW", jst(2023, 3, 21, 12).isoformat())
    response = client.get("/apply/", follow=True)
    html = response.content.decode()
    assert "申請の受付はまだ始まっていません" in html
    assert "coupon-inquiry_number" not in html
    monkeypatch.setenv("PORTAL_NOW", jst(2023, 5, 1, 0, 0).isoformat())
    html = client.get("/apply/coupon/").content.decode()
    assert "申請の受付は終了しました" in html
    assert "coupon-inquiry_number" not in html


def test_english_through_the_language_switch(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, follow=True)
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Compensation for the region PAY outage" in html
    assert "(toll-free)" in html
    assert "通話無料" not in html  # the footer's call-center line too


def test_the_landing_page_reads_the_link_and_transfer_dates_from_the_incident(client, incident):
    """The notice says "early April" and "mid-May"; the office fixes the days on the incident."""
    import datetime as dt

    incident.links_from = dt.date(2023, 4, 7)
    incident.transfers_from = dt.date(2023, 5, 19)
    incident.save(update_fields=["links_from", "transfers_from"])
    html = client.get("/", secure=True).content.decode()
    assert "4月7日" in html
    assert "5月19日" in html
    assert "4月上旬" not in html
    assert "5月中旬" not in html
    english = client.get("/", secure=True, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "early April" not in english
    assert "mid-May" not in english
