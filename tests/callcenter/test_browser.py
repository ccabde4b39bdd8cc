"""The desk in a browser: Playwright drives Debian's Chromium against a live server, at desktop
and tablet sizes. A 2-2 call from typing the number to the reinstatement; a 1-2 request before and
after the deadline. Screenshots go to .data/screenshots/desk/; axe-core must find no serious or
critical violation on any page seen."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine

from callcenter.models import CallDecision
from claims.models import Instruction
from tests.callcenter.conftest import CALL_DAY, agent, build_ledger, entitlement, run_engine
from tests.conftest import require_service
from tests.factories import jst

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".data" / "screenshots" / "desk"
SIZES = {"desktop": {"width": 1366, "height": 900}, "tablet": {"width": 820, "height": 1180}}
PHONE = {"width": 390, "height": 844}
ALL_SIZES = ["desktop", "tablet", "phone"]  # the pages changed last also seen on a phone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    available = Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None
    require_service("Chromium", available, f"{CHROMIUM} not found (apt-get install -y chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Screen:
    def __init__(self, page, folder: Path, axe) -> None:
        self.page, self.folder, self.axe, self.count = page, folder, axe, 0

    def shot(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)
        results = self.axe.run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        assert not bad, f"axe-core on {name} ({self.page.url}):\n" + "\n".join(bad)


@pytest.fixture(params=list(SIZES))
def screen(request, browser, live_server, client) -> Iterator[Screen]:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(viewport={**SIZES, "phone": PHONE}[request.param], locale="ja-JP")
    context.set_default_timeout(15_000)
    folder = SCREENSHOTS / request.node.name.replace("[", "-").rstrip("]")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    screen = Screen(page, folder, Axe())
    screen.base = live_server.url
    yield screen
    context.close()


def _login(screen: Screen, username: str) -> None:
    """Sign in with a verified second factor (tests/staff.py) and hand the session to the browser:
    the sign-in pages themselves are the staff engineer's browser test."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from tests.staff import login_verified

    client = login_verified(Client(), User.objects.get(username=username))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    screen.page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": screen.base}]
    )
    screen.page.goto(screen.base + "/admin/callcenter/callcase/intake/")
    screen.page.wait_for_url("**/intake/")


@pytest.mark.parametrize("screen", ALL_SIZES, indirect=True)
def test_a_2_2_call_from_the_number_to_the_reinstatement(screen: Screen, incident) -> None:
    with time_machine.travel(CALL_DAY, tick=True):
        numbers = build_ledger()
        run_engine(incident)
        agent("agent1", last_name="佐藤", first_name="花子")
        page = screen.page
        _login(screen, "agent1")
        screen.shot("intake-empty")
        # The caller reads the number with a hyphen and a letter O for a zero.
        page.fill("#q", "dup-oooo-001")
        page.press("#q", "Enter")
        page.wait_for_load_state()
        assert "当たるクーポンはありません" in page.inner_text("#content-main")
        screen.shot("not-found-help")
        page.click(f"text={numbers['dup']}")
        page.wait_for_load_state()
        assert "2-2 重複決済" in page.inner_text("#content-main")
        screen.shot("coupon-found")
        page.fill("#id_caller_name", "山田 太郎")
        page.fill("#id_callback_number", "09012345678")
        page.fill("#id_expires_on", "2023/2/26")
        page.select_option("#id_prefecture_code", "12")
        page.fill("#id_store_text", "たてやま")  # kana for a kanji name: not found, offered to pick
        page.fill("#id_store_text", "海鮮市場")
        page.get_by_role("button", name="対応を始める").click()
        page.wait_for_url("**/desk/")
        body = page.inner_text("#content-main")
        assert "090-1234-5678" in body
        assert body.count("一致") >= 4
        screen.shot("case-answers-checked")
        page.get_by_role("button", name="店舗の記録と一致: 延長して戻入する").click()
        page.wait_for_load_state()
        assert "800 円を戻入します" in page.inner_text("body")
        screen.shot("reinstated")
    decision = CallDecision.objects.get()
    assert (decision.kind, decision.status, decision.amount_yen) == ("confirm", "effective", 800)
    assert Instruction.objects.get(action="reinstate").amount_yen == 800


@pytest.mark.parametrize("day", ["before", "after"])
def test_a_1_2_request_before_and_after_the_deadline(screen: Screen, incident, day: str) -> None:
    at = jst(2023, 3, 27, 17, 30) if day == "before" else jst(2023, 3, 28, 10)
    with time_machine.travel(at, tick=True):
        numbers = build_ledger()
        run_engine(incident, at)
        agent("agent1")
        page = screen.page
        _login(screen, "agent1")
        page.fill("#q", numbers["left"])
        page.press("#q", "Enter")
        page.wait_for_load_state()
        page.get_by_role("button", name="対応を始める").click()
        page.wait_for_url("**/desk/")
        screen.shot(f"1-2-{day}-case")
        page.get_by_role("button", name="1-2 延長の申出を受け付ける").click()
        page.wait_for_load_state()
        text = page.inner_text("body")
        screen.shot(f"1-2-{day}-result")
    ent = entitlement(numbers["left"], "1-2")
    if day == "before":
        assert "延長しました" in text
        assert ent.status == "extended"
    else:
        assert "2023年3月27日（日本時間）までです。本日は 3月28日のため受け付けられません" in text
        assert ent.status == "found"
        assert not CallDecision.objects.exists()


@pytest.mark.parametrize("screen", ALL_SIZES, indirect=True)
def test_bank_details_taken_by_phone_with_errors_named_then_saved(screen: Screen, incident) -> None:
    from claims.models import BankAccount

    with time_machine.travel(CALL_DAY, tick=True):
        numbers = build_ledger()
        run_engine(incident)
        agent("agent1")
        page = screen.page
        _login(screen, "agent1")
        page.fill("#q", numbers["left"])
        page.press("#q", "Enter")
        page.wait_for_load_state()
        page.get_by_role("button", name="対応を始める").click()
        page.wait_for_url("**/desk/")
        page.get_by_text("口座情報を入力する").click()
        page.fill("#id_bank_code", "9999")
        page.fill("#id_branch_code", "001")
        page.select_option("#id_account_type", "ordinary")
        page.fill("#id_account_number", "7654321")
        page.fill("#id_holder_kana", "千葉花子")
        page.get_by_role("button", name="振込先を登録する").click()
        page.wait_for_load_state()
        assert "この金融機関コードの金融機関は見つかりません。" in page.inner_text("#content-main")
        screen.shot("bank-errors")
        page.fill("#id_bank_code", "0001")
        page.fill("#id_holder_kana", "ちば はなこ")
        page.get_by_role("button", name="振込先を登録する").click()
        page.wait_for_load_state()
        assert "振込先口座を登録しました" in page.inner_text("body")
        assert "7654321" not in page.content()
        screen.shot("bank-saved")
    assert BankAccount.objects.get().account_number == "7654321"


@pytest.mark.parametrize("screen", ALL_SIZES, indirect=True)
def test_the_coupon_list_search_opens_the_coupon_page_with_what_is_owed(screen: Screen, incident) -> None:
    with time_machine.travel(CALL_DAY, tick=True):
        numbers = build_ledger()
        run_engine(incident)
        agent("agent1")
        page = screen.page
        _login(screen, "agent1")
        page.goto(screen.base + "/admin/coupons/coupon/")
        assert page.evaluate("document.activeElement.id") == "searchbar"  # focused: type at once
        screen.shot("coupon-list")
        page.fill("#searchbar", "dup-oooo-001")  # O for 0: nothing found, help offered
        page.press("#searchbar", "Enter")
        page.wait_for_url("**/coupon/?q=*")
        assert "読み違えていませんか" in page.inner_text("#content")
        screen.shot("coupon-list-help")
        page.click(f"#coupon-not-found >> text={numbers['dup']}")
        page.wait_for_url(f"**/coupon/{numbers['dup']}/change/")
        body = page.inner_text("#content")
        assert "2-2 重複決済" in body
        assert "電話の受付でこのクーポンを開く" in body
        screen.shot("coupon-page")


@pytest.mark.parametrize("screen", ["desktop", "phone"], indirect=True)
def test_operations_pages_incident_form_entitlements_and_dashboard(screen: Screen, incident) -> None:
    from staff.roles import Role
    from tests.staff import make_staff

    with time_machine.travel(CALL_DAY, tick=True):
        build_ledger()
        run_engine(incident)
        make_staff(Role.OPERATIONS, username="ops1")
        page = screen.page
        _login(screen, "ops1")
        page.goto(screen.base + f"/admin/claims/incident/{incident.pk}/change/")
        assert page.get_by_label("障害開始（日付）").input_value() == "2023/02/24"
        screen.shot("incident-form")
        page.goto(screen.base + "/admin/claims/entitlement/")
        screen.shot("entitlements")
        page.goto(screen.base + "/admin/claims/entitlement/dashboard/")
        assert "支払う額" in page.inner_text("#content")
        screen.shot("dashboard")
