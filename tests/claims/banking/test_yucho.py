"""Japan Post Bank 記号・番号 → branch and account (DESIGN.md, "Banks")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.banking.banks import AccountType, get_branch
from claims.banking.yucho import YuchoError, yucho_to_account


def test_the_design_example() -> None:
    account = yucho_to_account("14030", "12345671")
    assert (account.bank_code, account.branch_code, account.account_number) == ("9900", "408", "1234567")
    assert account.account_type is AccountType.ORDINARY


def test_what_people_type_is_accepted() -> None:
    assert yucho_to_account("１４０３０", "１２３４５６７１") == yucho_to_account("14030", "12345671")
    assert yucho_to_account(" 14030 ", "1234-5671") == yucho_to_account("14030", "12345671")


def test_a_short_number_is_zero_filled_on_the_left() -> None:
    assert yucho_to_account("10180", "123451").account_number == "0012345"


@pytest.mark.parametrize(
    ("symbol", "number", "says"),
    [
        ("1403", "12345671", "記号は"),
        ("140300", "12345671", "記号は"),
        ("1403a", "12345671", "記号は"),
        ("14030", "123456712", "番号は"),
        ("14030", "", "番号は"),
        ("00120", "12345671", "振替口座"),
        ("11590", "12345671", "店がありません"),  # there is no branch 158
    ],
)
def test_what_is_not_an_account_is_refused_in_japanese(symbol: str, number: str, says: str) -> None:
    with pytest.raises(YuchoError, match=says):
        yucho_to_account(symbol, number)


@given(st.integers(min_value=0, max_value=99), st.integers(min_value=0, max_value=99_999_999))
def test_branch_is_the_symbols_middle_digits_and_eight(middle: int, number: int) -> None:
    symbol = f"1{middle:02d}{number % 10}0"
    branch_code = f"{middle:02d}8"
    if get_branch("9900", branch_code) is None:
        with pytest.raises(YuchoError):
            yucho_to_account(symbol, str(number))
        return
    account = yucho_to_account(symbol, str(number))
    assert account.branch_code == branch_code
    assert account.account_number == f"{number:08d}"[:7]
