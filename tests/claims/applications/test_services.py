"""Rules over data for the applications' normalisers: reference numbers, codes, dates, phones."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.services import applications as svc


def test_reference_numbers_read_back_and_avoid_confusable_symbols() -> None:
    for _ in range(500):
        reference = svc.reference_number_new()
        assert len(reference) == 10
        assert not set(reference) & set("0O1ILU")
        shown = svc.reference_number_display(reference)
        assert svc.normalize_reference(shown) == reference
        assert svc.normalize_reference(shown.lower().replace("-", " ")) == reference


def test_reference_numbers_carry_at_least_40_random_bits() -> None:
    bits = svc.REFERENCE_RANDOM_SYMBOLS * math.log2(len(svc.REFERENCE_ALPHABET))
    assert bits >= 40
    assert len({svc.reference_number_new() for _ in range(2000)}) == 2000


@given(st.text(alphabet=svc.REFERENCE_ALPHABET, min_size=10, max_size=10), st.data())
def test_one_mistyped_symbol_is_caught_by_the_check_character(reference: str, data) -> None:
    valid = reference[:-1] + svc._luhn_check_symbol(reference[:-1])
    position = data.draw(st.integers(min_value=0, max_value=9))
    other = data.draw(st.sampled_from([c for c in svc.REFERENCE_ALPHABET if c != valid[position]]))
    typo = valid[:position] + other + valid[position + 1 :]
    assert svc.normalize_reference(valid) == valid
    assert svc.normalize_reference(typo) is None


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_dates_in_the_shapes_people_type(day: dt.date) -> None:
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    for typed in (
        day.isoformat(),
        day.strftime("%Y/%m/%d"),
        f"{day.year}年{day.month}月{day.day}日",
        day.strftime("%Y/%m/%d").translate(full_width),
    ):
        assert svc.parse_date(typed) == day


@pytest.mark.parametrize(
    "typed", ["090-1234-5678", "09012345678", "+81 90-1234-5678", "０９０－１２３４－５６７８"]
)
def test_mobile_numbers_in_any_shape_become_e164(typed: str) -> None:
    assert svc.parse_mobile(typed) == "+819012345678"


@pytest.mark.parametrize("typed", ["03-1234-5678", "0120-479-249", "050-1234-5678"])
def test_numbers_that_cannot_receive_sms_are_refused(typed: str) -> None:
    with pytest.raises(svc.FieldInvalid):
        svc.parse_mobile(typed)


@pytest.mark.parametrize(("typed", "kana"), [("ちば はなこ", "チバ ハナコ"), ("ﾁﾊﾞ ﾊﾅｺ", "チバ ハナコ")])
def test_name_kana_is_full_width_katakana(typed: str, kana: str) -> None:
    assert svc.normalize_name_kana(typed) == kana


def test_codes_accept_full_width_digits_and_refuse_the_rest() -> None:
    assert svc.normalize_code("１２３４５６") == "123456"
    for bad in ("12345", "1234567", "12345a", ""):
        with pytest.raises(svc.FieldInvalid):
            svc.normalize_code(bad)
