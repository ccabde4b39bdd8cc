"""Browser tests of the travellers' site: Playwright drives Debian's Chromium against a live server.

One browser for the whole session; each test gets a fresh phone-sized context (390x844) in the
language it asks for, with JavaScript OFF — the site must work without it, so every route is
walked that way. axe-core needs JavaScript, so `shot` hands the rendered page to a second,
scripted page of the same size (same HTML, same stylesheet) and checks that one for serious or
critical violations. Screenshots go to .data/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_service

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".data" / "screenshots"
PHONE = {"width": 390, "height": 844}
LOCALES = {"ja": "ja-JP", "en": "en-GB"}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    available = Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None
    require_service("Chromium", available, f"{CHROMIUM} not found (apt-get install -y chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself
    # are still plain synchronous calls, so Django's async guard does not apply.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe() -> object:
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@dataclass
class Phone:
    """A traveller's phone: a page, the language it reads, and what was checked on the way."""

    page: object
    lang: str
    base_url: str
    axe: object
    axe_page: object
    folder: Path
    seen: list[str] = field(default_factory=list)

    def visit(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def shot(self, name: str) -> None:
        """Screenshot the current page and check it with axe-core (no serious/critical finding)."""
        self.seen.append(name)
        self.page.screenshot(path=str(self.folder / f"{len(self.seen):02d}-{name}.png"), full_page=True)
        html = self.page.content()
        assert "<script" not in html, f"{name}: the site ships no script"
        assert len(html.encode()) < 100_000, f"{name}: {len(html.encode())} bytes of HTML"
        base = f'<base href="{self.page.url}">'
        self.axe_page.set_content(html.replace("<head>", "<head>" + base, 1), wait_until="load")
        results = self.axe.run(self.axe_page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        assert not bad, f"axe-core on {name} ({self.page.url}):\n" + "\n".join(bad)

    def text(self) -> str:
        return self.page.inner_text("main")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@pytest.fixture
def phone_factory(browser, axe, live_server, request) -> Iterator[object]:
    contexts = []

    def context(lang: str, *, javascript: bool):
        made = browser.new_context(
            viewport=PHONE,
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
            locale=LOCALES[lang],
            java_script_enabled=javascript,
        )
        made.set_default_timeout(30_000)
        contexts.append(made)
        return made

    def make(lang: str) -> Phone:
        folder = SCREENSHOTS / lang / _slug(request.node.originalname or request.node.name)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        return Phone(
            page=context(lang, javascript=False).new_page(),
            lang=lang,
            base_url=live_server.url,
            axe=axe,
            axe_page=context(lang, javascript=True).new_page(),
            folder=folder,
        )

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(params=["ja", "en"])
def phone(request, phone_factory) -> Phone:
    return phone_factory(request.param)


# The incident row (re-created after a transactional test's flush), coupons with entitlements and
# the API's limits reset: the same fixtures as the API's tests.
from tests.claims.applications.conftest import _limits_reset, entitled_coupon  # noqa: E402, F401
from tests.claims.conftest import incident  # noqa: E402, F401
