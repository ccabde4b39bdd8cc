"""Bank business days (営業日) in Japan, for the transfer date of a Zengin file.

Banks are closed on weekends, national holidays and 12/31-1/3; ``holidays.Japan`` with the
"bank" category adds the year-end days to the public holidays (DESIGN.md, "Zengin 総合振込 file").
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import holidays

__all__ = ["is_bank_business_day", "next_bank_business_day"]


@cache
def _closed_days() -> holidays.HolidayBase:
    # One instance per process: it fills in each year on first use.
    return holidays.Japan(categories=("public", "bank"))


def is_bank_business_day(d: dt.date) -> bool:
    """True when Japanese banks are open on ``d`` (a weekday that is no holiday or year-end day)."""
    if isinstance(d, dt.datetime):
        raise TypeError("pass a date (a Japan-time date), not a datetime")
    return d.weekday() < 5 and d not in _closed_days()


def next_bank_business_day(d: dt.date) -> dt.date:
    """The first bank business day on or after ``d``."""
    while not is_bank_business_day(d):
        d += dt.timedelta(days=1)
    return d
