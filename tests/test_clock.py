from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine

from config import clock
from tests.staff import login_verified

ROOT = Path(__file__).resolve().parent.parent


def test_now_follows_the_machine_clock_when_not_pinned(monkeypatch) -> None:
    monkeypatch.delenv("PORTAL_NOW", raising=False)
    with time_machine.travel(dt.datetime(2023, 3, 31, 14, 59, 59, tzinfo=dt.UTC), tick=False):
        assert clock.now() == dt.datetime(2023, 3, 31, 14, 59, 59, tzinfo=dt.UTC)
        assert clock.pinned_now() is None


def test_portal_now_pins_the_clock_to_the_given_instant_in_utc(monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_NOW", "2023-04-01T00:00:00+09:00")

    assert clock.now() == dt.datetime(2023, 3, 31, 15, 0, tzinfo=dt.UTC)
    assert clock.now().tzinfo == dt.UTC


def test_a_pinned_time_without_offset_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_NOW", "2023-04-01T00:00:00")

    with pytest.raises(clock.ClockError, match="no UTC offset"):
        clock.now()


@pytest.mark.django_db
def test_pages_show_a_banner_while_the_clock_is_pinned(client, admin_user, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_NOW", "2023-04-10T10:00:00+09:00")
    login_verified(client, admin_user)

    html = client.get("/admin/").content.decode()

    assert "時計を固定中" in html
    assert "2023/04/10 10:00" in html


def test_a_pinned_clock_is_ignored_where_the_settings_do_not_allow_it(monkeypatch, settings) -> None:
    monkeypatch.setenv("PORTAL_NOW", "2023-04-10T10:00:00+09:00")
    settings.PORTAL_CLOCK_PINNABLE = False
    with time_machine.travel(dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC), tick=False):
        assert clock.pinned_now() is None
        assert clock.now() == dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


def _manage_check(**env: str) -> subprocess.CompletedProcess:
    """`manage.py check` in a process of its own with the project's own (production) settings."""
    environment = {k: v for k, v in os.environ.items() if k not in {"PORTAL_NOW", "PORTAL_CLOCK_PINNABLE"}}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="production-like-" + "y" * 50,
        DJANGO_ALLOWED_HOSTS="portal.example.jp",
        **env,
    )
    if "DJANGO_DEBUG" not in env:
        environment.pop("DJANGO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_with_a_pinned_clock() -> None:
    refused = _manage_check(PORTAL_NOW="2023-04-10T10:00:00+09:00")

    assert refused.returncode != 0
    assert (
        "PORTAL_NOW is set, but this configuration does not allow the portal's clock to be pinned: "
        "it is for the demo (make run) and the tests only. Unset PORTAL_NOW to start in production."
    ) in refused.stderr
    # The same settings without it start
    assert _manage_check().returncode == 0


def test_the_demo_may_pin_the_clock() -> None:
    # make run starts everything with DJANGO_DEBUG=1 and PORTAL_NOW set (config/localservices.py)
    demo = _manage_check(DJANGO_DEBUG="1", PORTAL_NOW="2023-04-10T10:00:00+09:00")

    assert demo.returncode == 0, demo.stderr
