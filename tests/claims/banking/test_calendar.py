"""Bank business days (DESIGN.md, "Zengin 総合振込 file": the transfer date)."""

from __future__ import annotations

import datetime as dt

import pytest

from claims.banking.calendar import is_bank_business_day, next_bank_business_day

D = dt.date


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (D(2023, 5, 15), True),  # a Monday
        (D(2023, 5, 13), False),  # Saturday
        (D(2023, 5, 14), False),  # Sunday
        (D(2023, 5, 3), False),  # 憲法記念日
        (D(2023, 3, 21), False),  # 春分の日
        (D(2023, 12, 29), True),  # the last business day of the year
        (D(2024, 12, 31), False),  # a Tuesday, but banks close 12/31-1/3
        (D(2025, 1, 2), False),
        (D(2025, 1, 3), False),
        (D(2025, 1, 6), True),
        (D(2024, 5, 6), False),  # 振替休日
    ],
)
def test_business_days(day: dt.date, open_: bool) -> None:
    assert is_bank_business_day(day) is open_


def test_next_business_day_is_on_or_after() -> None:
    assert next_bank_business_day(D(2023, 5, 15)) == D(2023, 5, 15)
    assert next_bank_business_day(D(2023, 5, 3)) == D(2023, 5, 8)  # Golden Week and a weekend
    assert next_bank_business_day(D(2024, 12, 31)) == D(2025, 1, 6)


def test_a_datetime_is_refused() -> None:
    with pytest.raises(TypeError):
        is_bank_business_day(dt.datetime(2023, 5, 15, 9, tzinfo=dt.UTC))
