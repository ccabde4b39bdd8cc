"""Transfer batches in a browser (Playwright driving Debian's Chromium against a live server), at
desktop and phone sizes: operations makes a batch and sees the preview with totals per bank; an
approver (another person) approves it and downloads the Zengin file, which reads back with the
independent reader. axe-core must find no serious or critical violation on any page seen.
Screenshots go to .data/screenshots/batches/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine

from payouts.models import Payout, TransferBatch
from tests.payouts.batching import BATCH_DAY, bank_payout, seed_requester_account
from tests.payouts.zengin_reader import read_zengin
from tests.staff import make_staff

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".data" / "screenshots" / "batches"
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}

pytestmark = pytest.mark.django_db(transaction=True)


class Screen:
    def __init__(self, page, folder: Path, axe, base: str) -> None:
        self.page, self.folder, self.axe, self.base, self.count = page, folder, axe, base, 0

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

    def login(self, username: str) -> None:
        """A session with a verified second factor (tests/staff.py), handed to the browser: the
        sign-in pages themselves are tests/test_staff_browser.py's."""
        from django.conf import settings
        from django.contrib.auth.models import User
        from django.test import Client

        from tests.staff import login_verified

        self.page.context.clear_cookies()
        client = login_verified(Client(), User.objects.get(username=username))
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": self.base}]
        )


@pytest.fixture(params=list(SIZES))
def screen(request, browser, live_server) -> Iterator[Screen]:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(viewport=SIZES[request.param], locale="ja-JP", accept_downloads=True)
    context.set_default_timeout(15_000)
    folder = SCREENSHOTS / request.param
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    yield Screen(context.new_page(), folder, Axe(), live_server.url)
    context.close()


def test_a_batch_made_by_one_person_approved_by_another_and_exported(screen: Screen, incident) -> None:
    with time_machine.travel(BATCH_DAY, tick=True):
        seed_requester_account()
        make_staff("operations", username="maker")
        make_staff("approver", username="checker")
        bank_payout(incident, 12_000, holder_kana="ﾁﾊﾞ ﾊﾅｺ")
        bank_payout(incident, 3_456, bank_code="9900", branch_code="408", holder_kana="ﾀﾃﾔﾏ ｼﾞﾛｳ")
        page = screen.page

        screen.login("maker")
        page.goto(screen.base + "/admin/payouts/transferbatch/")
        assert "2 件・15,456 円" in page.locator(".batch-tools").inner_text()
        screen.shot("list-before")
        page.get_by_role("button", name="振込バッチを作成").click()
        page.wait_for_url("**/change/")
        assert "承認は別の承認者" in page.content()
        assert page.get_by_role("button", name="このバッチを承認する").count() == 0
        screen.shot("preview-by-maker")

        batch = TransferBatch.objects.get()
        screen.login("checker")
        page.goto(f"{screen.base}/admin/payouts/transferbatch/{batch.pk}/change/")
        table = page.locator("table.numbers").inner_text()
        assert "ゆうちょ\t9900\t1\t3,456 円" in table
        screen.shot("preview-by-approver")
        page.get_by_role("button", name="このバッチを承認する").click()
        page.wait_for_selector(".messagelist")
        assert "承認しました" in page.locator(".messagelist").inner_text()
        screen.shot("approved")

        with page.expect_download() as download:
            page.get_by_role("link", name="振込データ（全銀・総合振込）をダウンロード").click()
        content = Path(download.value.path()).read_bytes()
        parsed = read_zengin(content)
        assert sorted(int(d["amount"]) for d in parsed.data) == [3_456, 12_000]
        assert int(parsed.trailer["total"]) == 15_456
        assert TransferBatch.objects.get().status == "exported"
        assert set(Payout.objects.values_list("status", flat=True)) == {"approved"}
        page.reload()
        screen.shot("exported")
