"""The call center's "open now / opens at" from the calendar: weekdays 10-18, in March every day."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.site.hours import JST, call_center_status, is_open_day
from tests.factories import jst


def test_open_on_a_weekday_afternoon_until_six():
    status = call_center_status(jst(2023, 4, 7, 12))  # Friday
    assert status.is_open
    assert status.closes_at == jst(2023, 4, 7, 18)


def test_saturday_in_april_is_closed_and_opens_on_monday_morning():
    status = call_center_status(jst(2023, 4, 8, 12))
    assert not status.is_open
    assert status.opens_at == jst(2023, 4, 10, 10)


def test_public_holiday_in_march_is_open():
    # 2023-03-21 (Tue) is 春分の日: in March the center answers on holidays too.
    assert call_center_status(jst(2023, 3, 21, 11)).is_open
    assert call_center_status(jst(2023, 3, 25, 17, 59)).is_open  # Saturday


def test_golden_week_holidays_are_skipped():
    # 5/3-5/5 (Wed-Fri) are holidays and 5/6-7 a weekend: next opening is Monday 5/8.
    status = call_center_status(jst(2023, 5, 2, 19))
    assert status.opens_at == jst(2023, 5, 8, 10)


def test_closing_time_is_exclusive_and_march_ends_the_weekend_service():
    status = call_center_status(jst(2023, 3, 31, 18))  # Friday 18:00; April 1 is a Saturday
    assert not status.is_open
    assert status.opens_at == jst(2023, 4, 3, 10)


def test_before_ten_opens_the_same_morning_in_japan_time():
    at = dt.datetime(2023, 4, 10, 0, 30, tzinfo=dt.UTC)  # 09:30 JST, Monday
    status = call_center_status(at)
    assert not status.is_open
    assert status.opens_at == jst(2023, 4, 10, 10)


def test_weekday_holiday_outside_march_is_closed():
    assert not is_open_day(dt.date(2023, 4, 29))
    assert not is_open_day(dt.date(2023, 5, 3))
    assert is_open_day(dt.date(2023, 5, 2))


# Naive bounds are what hypothesis wants; each drawn instant is then placed in Japan time.
instants = st.datetimes(
    min_value=dt.datetime(2023, 2, 1),  # noqa: DTZ001
    max_value=dt.datetime(2024, 1, 31),  # noqa: DTZ001
).map(lambda naive: naive.replace(tzinfo=JST))


@given(instants)
def test_status_agrees_with_the_calendar(at):
    status = call_center_status(at)
    local = at.astimezone(JST)
    inside_hours = dt.time(10) <= local.time() < dt.time(18)
    assert status.is_open == (is_open_day(local.date()) and inside_hours)
    if not status.is_open:
        opens = status.opens_at
        assert opens is not None
        assert opens > at
        assert opens.time() == dt.time(10)
        assert is_open_day(opens.date())
        # no open day in between
        day = local.date() + dt.timedelta(days=1)
        while day < opens.date():
            assert not is_open_day(day)
            day += dt.timedelta(days=1)


@pytest.mark.parametrize("day", [dt.date(2023, 3, 4), dt.date(2023, 3, 5), dt.date(2023, 3, 21)])
def test_every_day_of_march_is_open(day):
    assert is_open_day(day)
