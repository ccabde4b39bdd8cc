"""The Zengin 総合振込 file (種別コード 21) that the bank takes for a batch of transfers.

Layout (DESIGN.md, "Zengin 総合振込 file"): Shift_JIS, 120-byte records, CRLF after each; a
header (データ区分 1), one data record (2) per transfer, a trailer (8) with the count and the
total, an end record (9). Numbers are right-aligned and zero-filled, text left-aligned and
space-filled; text is the Zengin kana set (claims.banking.kana), one byte per character.

    header  1 | 21 | 0 | 依頼人コード N10 | 依頼人名 C40 | 振込指定日 MMDD | 仕向銀行 N4 C15
              | 仕向支店 N3 C15 | 預金種目 N1 | 口座番号 N7 | dummy C17
    data    2 | 被仕向銀行 N4 C15 | 被仕向支店 N3 C15 | 手形交換所番号 N4 | 預金種目 N1
              | 口座番号 N7 | 受取人名 C30 | 振込金額 N10 | 新規コード N1 | 顧客コード1 N10
              | 顧客コード2 N10 | 振込指定区分 N1 | 識別表示 C1 | dummy C7
    trailer 8 | 件数 N6 | 合計金額 N12 | dummy C101
    end     9 | dummy C119

The input is plain values (``Requester``, ``Transfer``), so the writer knows no model and the
same input always gives the same bytes. A field that does not fit is refused, never cut: names
are converted and truncated by the caller (``zengin_kana`` + ``zengin_truncate``), which is where
a person can see what the bank will read. Records are written as they come, in blocks, to any
binary file object; on an error the caller throws the partial file away.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from claims.banking.banks import AccountType
from claims.banking.calendar import is_bank_business_day, next_bank_business_day

__all__ = ["Requester", "Transfer", "ZenginError", "ZenginSummary", "write_zengin_file"]

ENCODING = "shift_jis"
RECORD_BYTES = 120
MAX_AMOUNT_YEN = 9_999_999_999  # 振込金額 N10
MAX_TOTAL_YEN = 999_999_999_999  # 合計金額 N12
MAX_COUNT = 999_999  # 件数 N6
_BLOCK = 2_000  # records encoded and written at a time: streaming, but not one write per record

_TEXT_CLASS = r"[0-9A-Z\uff71-\uff9f().\- ]"
_TEXT = re.compile(f"{_TEXT_CLASS}*")
# A data record, position by position: codes and numbers are digits, names the Zengin set, the
# holder's name does not start blank, the account type is 1/2/4, 新規コード 0-2, 振込指定区分 7/8.
# Data records as Shift_JIS bytes, position by position: codes and numbers are digits, names the
# Zengin set (half-width kana are the single bytes 0xB1-0xDF), the holder's name does not start
# blank, the account type is 1/2/4, 新規コード 0-2, 振込指定区分 7/8. Checked a block of records at
# a time: one match over 2,000 records instead of 2,000 calls.
_T = rb"[0-9A-Z\xb1-\xdf().\- ]"
_DATA_RECORD = (
    rb"2[0-9]{4}" + _T + rb"{15}[0-9]{3}" + _T + rb"{15}0000[124][0-9]{7}(?! )" + _T + rb"{30}"
    rb"[0-9]{10}[012][0-9]{10}[0-9]{10}[78] {8}\r\n"
)
_DATA_BLOCK = re.compile(rb"(?:" + _DATA_RECORD + rb")*")
_ONE_RECORD = re.compile(_DATA_RECORD)
_ACCOUNT_DIGIT = {t: t.zengin_code for t in AccountType}


class ZenginError(ValueError):
    """A value that cannot go into the file; the message names the record and the field."""


@dataclass(frozen=True, slots=True)
class Requester:
    """依頼人: the portal's own account, from which the bank pays (held as data by payouts)."""

    code: str  # 依頼人コード, given by the bank, up to 10 digits
    name: str  # 依頼人名, Zengin kana, up to 40 bytes
    bank_code: str  # 4 digits
    branch_code: str  # 3 digits
    account_type: AccountType
    account_number: str  # up to 7 digits
    bank_name: str = ""  # Zengin kana, up to 15 bytes (may stay blank: banks read the codes)
    branch_name: str = ""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, ~1 s a 100,000 batch
class Transfer:
    """One 振込: the receiving account and the amount."""

    bank_code: str  # 4 digits
    branch_code: str  # 3 digits
    account_type: AccountType
    account_number: str  # up to 7 digits
    holder: str  # 受取人名, Zengin kana, up to 30 bytes
    amount_yen: int  # 1 … 9,999,999,999
    customer_code_1: str = ""  # up to 10 digits: we put the payout's id here, returns quote it
    customer_code_2: str = ""
    bank_name: str = ""  # Zengin kana, up to 15 bytes
    branch_name: str = ""
    new_code: str = "0"  # 新規コード: 1 first transfer, 2 changed, 0 other
    transfer_kind: str = "7"  # 振込指定区分: 7 telegraphic (テレ振込), 8 by document


@dataclass(frozen=True, slots=True)
class ZenginSummary:
    count: int
    total_yen: int
    size_bytes: int
    sha256: str


def _digits(value: str, width: int, *, exact: bool = False) -> bool:
    return (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and (len(value) == width if exact else len(value) <= width)
    )


def _text(value: str, width: int) -> bool:
    return isinstance(value, str) and len(value) <= width and _TEXT.fullmatch(value) is not None


def _problems(fields: list[tuple[str, object, str, int]]) -> list[str]:
    """What is wrong with each field, in words: (label, value, kind, width)."""
    problems = []
    for label, value, kind, width in fields:
        if kind in ("N", "N=") and not _digits(value, width, exact=kind == "N="):  # type: ignore[arg-type]
            size = f"{width}桁" if kind == "N=" else f"{width}桁までの"
            problems.append(f"{label}は{size}半角数字にしてください")
        elif kind == "C" and not _text(value, width):  # type: ignore[arg-type]
            problems.append(
                f"{label}は{width}バイトまでの全銀カナ（半角カナ・英大文字・数字・()-. ）にしてください"
            )
        elif kind == "type" and value not in _ACCOUNT_DIGIT:
            problems.append(f"{label}は普通・当座・貯蓄のいずれかにしてください")
        elif kind.isdigit() and not (isinstance(value, str) and len(value) == 1 and value in kind):
            problems.append(f"{label}は{'・'.join(kind)}のいずれかにしてください")
        elif kind == "yen" and not (type(value) is int and 0 < value <= MAX_AMOUNT_YEN):
            problems.append(f"{label}は1円から{MAX_AMOUNT_YEN:,}円までの整数にしてください")
    return problems


def _header(requester: Requester, transfer_date: dt.date) -> str:
    r = requester
    problems = _problems(
        [
            ("依頼人コード", r.code, "N", 10),
            ("依頼人名", r.name, "C", 40),
            ("仕向銀行番号", r.bank_code, "N=", 4),
            ("仕向銀行名", r.bank_name, "C", 15),
            ("仕向支店番号", r.branch_code, "N=", 3),
            ("仕向支店名", r.branch_name, "C", 15),
            ("預金種目", r.account_type, "type", 1),
            ("口座番号", r.account_number, "N", 7),
        ]
    )
    if not r.name.strip():
        problems.append("依頼人名がありません")
    if not r.code or not r.account_number:
        problems.append("依頼人コードと口座番号は必須です")
    if problems:
        raise ZenginError("ヘッダー（依頼人）: " + "、".join(problems) + "。")
    return (
        f"1210{r.code.zfill(10)}{r.name:<40}{transfer_date:%m%d}{r.bank_code}{r.bank_name:<15}"
        f"{r.branch_code}{r.branch_name:<15}{_ACCOUNT_DIGIT[r.account_type]}{r.account_number.zfill(7)}"
        f"{'':17}"
    )


def _refuse(t: Transfer, number: int) -> ZenginError:
    problems = _problems(
        [
            ("被仕向銀行番号", t.bank_code, "N=", 4),
            ("被仕向銀行名", t.bank_name, "C", 15),
            ("被仕向支店番号", t.branch_code, "N=", 3),
            ("被仕向支店名", t.branch_name, "C", 15),
            ("預金種目", t.account_type, "type", 1),
            ("口座番号", t.account_number, "N", 7),
            ("受取人名", t.holder, "C", 30),
            ("振込金額", t.amount_yen, "yen", 10),
            ("新規コード", t.new_code, "012", 1),
            ("顧客コード1", t.customer_code_1, "N", 10),
            ("顧客コード2", t.customer_code_2, "N", 10),
            ("振込指定区分", t.transfer_kind, "78", 1),
        ]
    )
    if not t.account_number:
        problems.append("口座番号がありません")
    if isinstance(t.holder, str) and not t.holder.strip():
        problems.append("受取人名がありません")
    # Customer codes identify the payout without naming the person: safe in a message or log.
    where = f"振込データ {number} 件目（ファイルの {number + 1} 行目"
    if _digits(t.customer_code_1, 10) and t.customer_code_1:
        where += f"、顧客コード1 {t.customer_code_1}"
    return ZenginError(f"{where}）: " + "、".join(problems or ["書き込めない値があります"]) + "。")


def write_zengin_file(
    out: BinaryIO,
    *,
    requester: Requester,
    transfer_date: dt.date,
    transfers: Iterable[Transfer],
) -> ZenginSummary:
    """Write the 総合振込 file of ``transfers`` to ``out``; return its count, total and SHA-256.

    The transfer date must be a bank business day (weekday, no holiday, not 12/31-1/3). Raises
    ``ZenginError`` naming the record and field of the first value that does not fit; what was
    written before it must then be discarded.
    """
    if isinstance(transfer_date, dt.datetime) or not isinstance(transfer_date, dt.date):
        raise ZenginError("振込指定日は日付で指定してください。")
    if not is_bank_business_day(transfer_date):
        raise ZenginError(
            f"振込指定日 {transfer_date:%Y-%m-%d} は銀行の営業日ではありません"
            f"（次の営業日は {next_bank_business_day(transfer_date):%Y-%m-%d}）。"
        )
    digest = hashlib.sha256()
    size = 0
    header = (_header(requester, transfer_date) + "\r\n").encode(ENCODING)
    pending = [header]  # the header goes out with the first block of good records

    def emit(data: bytes) -> None:
        nonlocal size
        out.write(data)
        digest.update(data)
        size += len(data)

    def check_and_emit(records: list[str], items: list[Transfer], first: int) -> None:
        try:
            data = ("\r\n".join(records) + "\r\n").encode(ENCODING) if records else b""
            fits = _DATA_BLOCK.fullmatch(data) is not None
        except UnicodeEncodeError:
            fits = False
        if not fits:
            for n, (record, t) in enumerate(zip(records, items, strict=True), start=first):
                try:
                    ok = _ONE_RECORD.fullmatch((record + "\r\n").encode(ENCODING)) is not None
                except UnicodeEncodeError:
                    ok = False
                if not ok:
                    raise _refuse(t, n)
            raise AssertionError("a block failed its check but none of its records did")  # pragma: no cover
        if pending:
            data = pending.pop() + data
        if data:
            emit(data)

    records: list[str] = []
    items: list[Transfer] = []
    count = total = 0
    account_digit = _ACCOUNT_DIGIT
    for t in transfers:
        count += 1
        # Padded fields come out at least as wide as their field and the others are checked for
        # their exact width, so a record of 120 characters has every field in its place; the
        # characters of each position are then checked a block at a time (check_and_emit).
        try:
            amount = t.amount_yen
            bank, branch, new, kind = t.bank_code, t.branch_code, t.new_code, t.transfer_kind
            record = "".join(
                (
                    "2",
                    bank,
                    t.bank_name.ljust(15),
                    branch,
                    t.branch_name.ljust(15),
                    "0000",
                    account_digit[t.account_type],
                    t.account_number.zfill(7),
                    t.holder.ljust(30),
                    str(amount).zfill(10),
                    new,
                    t.customer_code_1.zfill(10),
                    t.customer_code_2.zfill(10),
                    kind,
                    "        ",  # 識別表示 (blank: the customer codes are ours, not EDI data) + 7 dummy bytes
                )
            )
            fits = (
                len(record) == RECORD_BYTES
                and len(bank) == 4
                and len(branch) == 3
                and len(new) == 1
                and len(kind) == 1
                and type(amount) is int
                and amount > 0
                and len(t.account_number) > 0
            )
        except (TypeError, ValueError, KeyError, AttributeError):
            fits = False
        if not fits:
            raise _refuse(t, count)
        total += amount
        if count > MAX_COUNT or total > MAX_TOTAL_YEN:
            raise ZenginError(
                f"振込データ {count} 件目で、1ファイルの上限（{MAX_COUNT:,}件・合計{MAX_TOTAL_YEN:,}円）を"
                "超えます。バッチを分けてください。"
            )
        records.append(record)
        items.append(t)
        if len(records) >= _BLOCK:
            check_and_emit(records, items, count - len(records) + 1)
            records, items = [], []
    if count == 0:
        raise ZenginError("振込データが1件もありません。")
    check_and_emit(records, items, count - len(records) + 1)
    emit(f"8{count:06d}{total:012d}{'':101}\r\n9{'':119}\r\n".encode(ENCODING))
    return ZenginSummary(count=count, total_yen=total, size_bytes=size, sha256=digest.hexdigest())
