"""Japan Post Bank (ゆうちょ銀行) accounts as the Zengin network knows them (DESIGN.md, "Banks").

A ゆうちょ passbook shows 記号 (5 digits) and 番号 (up to 8 digits), not a branch and account
number. For transfers from other banks, an ordinary savings account (通常貯金, 記号 starting
with 1) is branch = the 2nd and 3rd digits of 記号 followed by "8", type 普通, account = 番号
without its last digit: 14030 / 12345671 → branch 408 (四〇八), account 1234567.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from claims.banking.banks import AccountType, get_branch

__all__ = ["YUCHO_BANK_CODE", "YuchoAccount", "YuchoError", "yucho_to_account"]

YUCHO_BANK_CODE = "9900"


class YuchoError(ValueError):
    """記号/番号 that do not make an account; ``str()`` is a sentence for the traveller."""


@dataclass(frozen=True, slots=True)
class YuchoAccount:
    bank_code: str
    branch_code: str
    account_type: AccountType
    account_number: str  # 7 digits


def _digits(text: str) -> str:
    # What people type: full-width digits, hyphens and spaces between groups.
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if c not in " -ー‐−")


def yucho_to_account(symbol: str, number: str) -> YuchoAccount:
    """Convert 記号・番号 of an ordinary ゆうちょ account to bank 9900's branch and account."""
    symbol, number = _digits(symbol), _digits(number)
    if not (symbol.isascii() and symbol.isdigit() and len(symbol) == 5):
        raise YuchoError("記号は通帳に書かれている5桁の数字で入力してください（例：14030）。")
    if not (number.isascii() and number.isdigit() and 1 <= len(number) <= 8):
        raise YuchoError("番号は通帳に書かれている8桁までの数字で入力してください（例：12345671）。")
    if symbol[0] != "1":
        raise YuchoError(
            "記号が「1」で始まらない口座（振替口座など）には振り込めません。"
            "記号が「1」で始まる通常貯金の口座を入力してください。"
        )
    number = number.zfill(8)
    branch_code = symbol[1:3] + "8"
    if get_branch(YUCHO_BANK_CODE, branch_code) is None:
        raise YuchoError("この記号に当たるゆうちょ銀行の店がありません。記号をもう一度お確かめください。")
    return YuchoAccount(
        bank_code=YUCHO_BANK_CODE,
        branch_code=branch_code,
        account_type=AccountType.ORDINARY,
        account_number=number[:7],
    )
