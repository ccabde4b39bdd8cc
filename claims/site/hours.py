"""When the compensation call center answers, on the portal's clock.

The notice: region PAY 補償コールセンター 0120-479-249, weekdays 10:00-18:00, and in March also on
Saturdays, Sundays and public holidays. "Weekdays" in a Japanese notice (平日) excludes public
holidays; the holidays are the `holidays` package's Japanese calendar, so a substitute holiday
(振替休日) counts as one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

JST = ZoneInfo("Asia/Tokyo")
PHONE = "0120-479-249"
PHONE_URI = "tel:0120479249"
OPENS = dt.time(10, 0)
CLOSES = dt.time(18, 0)
EVERY_DAY_MONTHS = frozenset({3})  # 3月は土日祝日も受付
SEARCH_DAYS = 31


@dataclasses.dataclass(frozen=True)
class CallCenterStatus:
    is_open: bool
    closes_at: dt.datetime | None  # while open: today's closing time (JST)
    opens_at: dt.datetime | None  # while closed: the next opening (JST)


@lru_cache(maxsize=8)
def _japan_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_holiday(day: dt.date) -> bool:
    return day in _japan_holidays(day.year)


def is_open_day(day: dt.date) -> bool:
    """Weekdays that are not public holidays, and every day of March."""
    if day.month in EVERY_DAY_MONTHS:
        return True
    return day.weekday() < 5 and not is_holiday(day)


def call_center_status(at: dt.datetime) -> CallCenterStatus:
    """Open now (and until when), or the next opening, for an aware instant."""
    local = at.astimezone(JST)
    today = local.date()
    if is_open_day(today):
        opens = dt.datetime.combine(today, OPENS, tzinfo=JST)
        closes = dt.datetime.combine(today, CLOSES, tzinfo=JST)
        if opens <= local < closes:
            return CallCenterStatus(is_open=True, closes_at=closes, opens_at=None)
        if local < opens:
            return CallCenterStatus(is_open=False, closes_at=None, opens_at=opens)
    for offset in range(1, SEARCH_DAYS + 1):
        day = today + dt.timedelta(days=offset)
        if is_open_day(day):
            return CallCenterStatus(
                is_open=False, closes_at=None, opens_at=dt.datetime.combine(day, OPENS, tzinfo=JST)
            )
    return CallCenterStatus(is_open=False, closes_at=None, opens_at=None)  # pragma: no cover
