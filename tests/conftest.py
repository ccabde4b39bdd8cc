from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

# Staff users signed in with a verified second factor: every staff-page test uses these.
from tests.staff import staff, staff_client, staff_user  # noqa: F401

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BROWSER_CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")


def require_service(name: str, reachable: bool, why: str) -> None:
    """Skip a test whose service is missing on a developer's machine; fail it in CI."""
    if reachable:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI and is not reachable: {why}")
    pytest.skip(f"{name} not reachable: {why}")


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write a CSV file: write_csv("movements.csv", header, rows, encoding="utf-8", bom=False)."""

    def write(
        name: str,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        encoding: str = "utf-8",
        bom: bool = False,
        line_terminator: str = "\n",
    ) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=line_terminator)
        writer.writerow(header)
        writer.writerows(rows)
        data = buffer.getvalue().encode(encoding)
        path = tmp_path / name
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
        return path

    return write


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium for the whole session, shared by every browser test (the travellers' site,
    staff sign-in): Playwright's sync API allows one running instance per thread."""
    available = Path(BROWSER_CHROMIUM).exists() or shutil.which(BROWSER_CHROMIUM) is not None
    require_service("Chromium", available, f"{BROWSER_CHROMIUM} not found (apt-get install -y chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself
    # are still plain synchronous calls, so Django's async guard does not apply.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=BROWSER_CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


from tests.workers import workers  # noqa: E402, F401 (real Celery workers: a fixture for every test)
