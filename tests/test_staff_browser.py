"""Sign-in in a real browser (Playwright driving Debian's Chromium) at desktop and tablet sizes:
the password, the first-login enrolment from the QR page's key, and a lock-out; axe-core finds no
serious or critical violation on those pages. Screenshots go to SCREENSHOT_DIR (default
.data/screenshots) to be looked at."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from django.conf import settings
from django_otp.oath import totp

from staff.roles import Role
from tests.staff import make_staff

SIZES = {"desktop": (1366, 900), "tablet": (820, 1180)}
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", settings.BASE_DIR / ".data" / "screenshots"))

pytestmark = [pytest.mark.django_db(transaction=True)]


def _serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("size", list(SIZES))
def test_first_login_enrols_the_app_and_reaches_the_admin(browser, live_server, size) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_staff(Role.AGENT, username=f"agent-{size}")
    TOTPDevice.objects.filter(user=user).delete()  # a new member of staff: nothing enrolled yet
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height}, locale="en-US")

    page.goto(f"{live_server.url}/admin/")
    assert page.locator("h1").first.inner_text() == "職員ログイン"
    assert _serious(page) == []
    _shot(page, f"login-{size}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-staff-2023")
    page.click("input[type=submit]")

    page.wait_for_selector(".staff-qr svg")
    assert "認証アプリの登録" in page.locator("h1").inner_text()
    assert _serious(page) == []
    _shot(page, f"enrol-{size}")
    key = page.locator(".staff-secret").inner_text().replace(" ", "")
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    page.fill("#id_token", f"{totp(secret):06d}")
    page.click("input[type=submit]")

    page.wait_for_selector("#user-tools")
    assert "ログアウト" in page.locator("#user-tools").inner_text()  # Japanese for an English browser
    assert TOTPDevice.objects.get(user=user).confirmed
    _shot(page, f"admin-index-{size}")
    page.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_repeated_failures_show_the_lock_out_page(browser, live_server, size) -> None:
    make_staff(Role.AGENT, username=f"locked-{size}")
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", f"locked-{size}")
        page.fill("#id_password", "wrong-password")
        page.click("input[type=submit]")

    assert "ログインを一時的に止めています" in page.locator("h1").inner_text()
    assert "コールセンター責任者" in page.content()
    assert "region PAY 障害補償 管理" in page.locator("#site-name").inner_text()
    assert _serious(page) == []
    _shot(page, f"locked-out-{size}")
    page.close()
