from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from config import clock
from tests.staff import login_verified


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
