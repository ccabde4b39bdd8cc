"""The landing page in a phone's browser, in Japanese and English."""

from __future__ import annotations

import pytest

from tests.factories import jst

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock_at(monkeypatch):
    def set_clock(at) -> None:
        monkeypatch.setenv("PORTAL_NOW", at.isoformat())

    return set_clock


def test_landing_says_what_happened_and_when_the_call_center_opens(phone, incident, clock_at):
    clock_at(jst(2023, 4, 8, 12))  # Saturday in April: closed until Monday
    phone.visit("/")
    text = phone.text()
    if phone.lang == "ja":
        assert "2023年2月24日（金）" in text
        assert "0120-479-249" in text
        assert "ただいま受付時間外です。次の受付開始は 4月10日（月）10:00 です。" in text
        assert "申請をはじめる" in text
    else:
        assert "24 February 2023" in text
        assert "The call center is closed now. It opens next on Mon 10 Apr, 10:00." in text
        assert "Start your application" in text
    phone.shot("landing-closed-call-center")

    clock_at(jst(2023, 3, 25, 11))  # Saturday in March: open
    phone.visit("/")
    assert (
        "ただいま受付中です（本日 18:00 まで）" if phone.lang == "ja" else "open now (until 18:00 today)"
    ) in phone.text()
    phone.shot("landing-open-call-center")


def test_language_switch_is_a_form_that_needs_no_script(phone_factory, incident, clock_at):
    clock_at(jst(2023, 4, 10, 10))
    phone = phone_factory("ja")
    phone.visit("/")
    assert phone.page.locator("html").get_attribute("lang") == "ja"
    phone.page.get_by_role("button", name="English").click()
    assert phone.page.locator("html").get_attribute("lang") == "en"
    assert "Start your application" in phone.text()
    phone.page.get_by_role("button", name="日本語").click()
    assert phone.page.locator("html").get_attribute("lang") == "ja"
