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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, BinaryIO, NamedTuple

from claims.banking.banks import AccountType
from claims.banking.calendar import is_bank_business_day, next_bank_business_day

__all__ = ["Requester", "Transfer", "ZenginError", "ZenginSummary", "transfer_row", "write_zengin_file"]

ENCODING = "shift_jis"
RECORD_BYTES = 120
MAX_AMOUNT_YEN = 9_999_999_999  # 振込金額 N10
MAX_TOTAL_YEN = 999_999_999_999  # 合計金額 N12
MAX_COUNT = 999_999  # 件数 N6
_BLOCK = 2_000  # records encoded and written at a time: streaming, but not one write per record

_TEXT_CLASS = r"[0-9A-Z\uff71-\uff9f().\- ]"
_TEXT = re.compile(f"{_TEXT_CLASS}*")
# Every character of the Zengin set is one byte in Shift_JIS: ASCII as itself, the half-width
# kana U+FF61-U+FF9F as 0xA1-0xDF. In UTF-16-LE those are (byte, 0x00) and (0x61-0x9F, 0xFF): the
# low bytes, with 0x61-0x9F moved up by 0x40, are the Shift_JIS bytes — if every high byte is
# the one its low byte implies (0xFF for 0x61-0x9F, 0x00 below; nothing for 0xA0 and up), which
# is what rules out every other character ('q' U+0071, '山' U+5C71 and 'ｱ' U+FF71 share a low
# byte). A few passes in C over a block instead of the CJK codec's per-character look-ups and a
# pattern over text (~0.4 s a 100,000-record file); a property test holds it equal to the codec.
_KANA_LOW_BYTES = bytes(b + 0x40 if 0x61 <= b <= 0x9F else b for b in range(256))
_HIGH_BYTE_OF_LOW = bytes(0x00 if b < 0x61 else 0xFF if b <= 0x9F else 0x01 for b in range(256))


def _encode_zengin_set(text: str) -> bytes | None:
    """``text`` in Shift_JIS if every character is in the Zengin set's range of one-byte
    characters (ASCII, U+FF61-U+FF9F), else None."""
    try:
        utf16 = text.encode("utf-16-le")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    low, high = utf16[::2], utf16[1::2]
    if low.translate(_HIGH_BYTE_OF_LOW) != high:
        return None
    return low.translate(_KANA_LOW_BYTES)


# Data records as bytes, position by position: codes and numbers are digits, names the Zengin
# set (its kana are 0xB1-0xDF), the holder's name does not start blank, the account number and
# the amount are not zero, the account type is 1/2/4, 新規コード 0-2, 振込指定区分 7/8. Checked a
# block of records at a time: one match over 2,000 records instead of 2,000 calls.
_T = rb"[0-9A-Z\xb1-\xdf().\- ]"
_DATA_RECORD = (
    rb"2[0-9]{4}" + _T + rb"{15}[0-9]{3}" + _T + rb"{15}0000[124](?!0{7})[0-9]{7}(?! )" + _T + rb"{30}"
    rb"(?!0{10})[0-9]{10}[012][0-9]{10}[0-9]{10}[78] {8}\r\n"
)
_DATA_BLOCK = re.compile(rb"(?:" + _DATA_RECORD + rb")*")
_BANK, _BRANCH, _AMOUNT = itemgetter(0), itemgetter(2), itemgetter(7)
_NUMBER, _HOLDER, _NEW, _KIND = itemgetter(5), itemgetter(6), itemgetter(10), itemgetter(11)

# The same rules as _DATA_BLOCK, checked in C over a whole block (~5x faster than the pattern,
# which stays for naming a bad record and in a property test that holds the two equal): the
# bytes of the set, CRLF only at the end of each 122 bytes, digits at every numeric position.
_LINE = RECORD_BYTES + 2
_ZENGIN_BYTES = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ().- \r\n" + bytes(range(0xB1, 0xE0))
_DIGIT_POSITIONS = [
    *range(1, 5),
    *range(20, 23),
    *range(43, 50),
    *range(80, 90),
    *range(91, 111),
]  # bank, branch, account number, amount, customer codes 1 and 2


def _block_fits(data: bytes, block: list[Transfer]) -> bool:
    """Whether a block's encoded records (every field at least its width, codes exact) are right."""
    n = len(block)
    return (
        len(data) == _LINE * n  # with every field at least its width: every record exactly 120
        and not data.translate(None, _ZENGIN_BYTES)
        and data.count(b"\r") == n
        and data.count(b"\n") == n
        and data[RECORD_BYTES::_LINE] == b"\r" * n
        and data[RECORD_BYTES + 1 :: _LINE] == b"\n" * n
        and all(data[p::_LINE].isdigit() for p in _DIGIT_POSITIONS)
        and b" " not in data[50::_LINE]  # the holder's name does not start blank
        and min(map(_AMOUNT, block)) > 0
        and all(map(str.strip, map(_NUMBER, block), repeat("0")))  # an account number not all zeros
        and set(map(_NEW, block)) <= {"0", "1", "2"}
        and set(map(_KIND, block)) <= {"7", "8"}
    )


# Keyed by the members and by their values: an Enum member hashes by its name, so a plain
# "ordinary" from the database would not find the member's key.
_ACCOUNT_DIGIT: dict[str, str] = {t: t.zengin_code for t in AccountType} | {
    t.value: t.zengin_code for t in AccountType
}


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


class Transfer(NamedTuple):
    """One 振込: the receiving account and the amount, in the order of the record's fields.

    A named tuple rather than a dataclass: a batch export makes 100,000 of them from database rows
    (``transfer_row``: no Python code per row) and the writer unpacks each in one step. Built one
    by one in Python, a frozen dataclass took 2-3x the time of the whole export (bench/zengin.py).
    """

    bank_code: str  # 4 digits
    bank_name: str  # Zengin kana, up to 15 bytes (blank allowed: banks read the codes)
    branch_code: str  # 3 digits
    branch_name: str  # Zengin kana, up to 15 bytes
    account_type: AccountType  # or its value ("ordinary")
    account_number: str  # up to 7 digits
    holder: str  # 受取人名, Zengin kana, up to 30 bytes
    amount_yen: int  # 1 … 9,999,999,999
    customer_code_1: str  # up to 10 digits: the payout's id, which returns (組戻し) quote
    customer_code_2: str = ""
    new_code: str = "0"  # 新規コード: 1 first transfer, 2 changed, 0 other
    transfer_kind: str = "7"  # 振込指定区分: 7 telegraphic (テレ振込), 8 by document


def transfer_row(cursor: Any) -> Callable[[Sequence[Any]], Transfer]:
    """A psycopg row factory: rows whose columns are a ``Transfer``'s fields, in order, as Transfers.

    ``tuple.__new__`` called from C makes each one without running Python code per row (a
    ``Transfer(*row)`` per row made a 100,000-transfer export twice as slow; bench/zengin.py).
    """
    columns = len(cursor.description or ())
    if columns != len(Transfer._fields):
        raise ValueError(f"a Transfer row has {len(Transfer._fields)} columns, the query gives {columns}")
    return partial(tuple.__new__, Transfer)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class ZenginSummary:
    count: int
    total_yen: int
    size_bytes: int
    sha256: str


def _digits(value: str, width: int, *, exact: bool = False) -> bool:
    """Digits filling the field (exact) or up to its width, blank allowed (zero-filled)."""
    if not isinstance(value, str):
        return False
    if not exact and value == "":
        return True
    return value.isascii() and value.isdigit() and (len(value) == width if exact else len(value) <= width)


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


def _transfer_problems(t: Transfer) -> list[str]:
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
    if isinstance(t.account_number, str) and not t.account_number.strip("0"):
        problems.append("口座番号がありません")
    if isinstance(t.holder, str) and not t.holder.strip():
        problems.append("受取人名がありません")
    elif isinstance(t.holder, str) and t.holder.startswith(" "):
        problems.append("受取人名の先頭に空白があります")
    return problems


def _refuse(t: Transfer, number: int, problems: list[str] | None = None) -> ZenginError:
    if problems is None:
        try:
            problems = _transfer_problems(t)
        except (AttributeError, TypeError):
            problems = ["振込データの形が正しくありません"]
    # Customer codes identify the payout without naming the person: safe in a message or log.
    where = f"振込データ {number} 件目（ファイルの {number + 1} 行目"
    code = getattr(t, "customer_code_1", "")
    if _digits(code, 10) and code:
        where += f"、顧客コード1 {code}"
    return ZenginError(f"{where}）: " + "、".join(problems or ["書き込めない値があります"]) + "。")


def _format_block(block: list[Transfer]) -> list[str]:
    """The data records of a block: every field padded to at least its width (numbers zero-filled
    on the left, text space-filled on the right); raises TypeError/KeyError/... on a value that is
    not even of its kind."""
    digit = _ACCOUNT_DIGIT
    return [
        "".join(
            (
                "2",
                bank,
                bank_name.ljust(15),
                branch,
                branch_name.ljust(15),
                "0000",
                digit[type_],
                number.zfill(7),
                holder.ljust(30),
                str(amount).zfill(10),
                new.zfill(1),
                cc1.zfill(10),
                cc2.zfill(10),
                kind.zfill(1),
                "        ",  # 識別表示 (blank: customer codes are ours, not EDI) + 7 dummy bytes
            )
        )
        for (
            bank,
            bank_name,
            branch,
            branch_name,
            type_,
            number,
            holder,
            amount,
            cc1,
            cc2,
            new,
            kind,
        ) in block
    ]


def _first_refusal(block: list[Transfer], first: int) -> ZenginError | None:
    """The refusal of the first transfer of a block that cannot be written, for the slow path."""
    for n, t in enumerate(block, start=first):
        if not isinstance(t, tuple) or len(t) != len(Transfer._fields):
            return _refuse(t, n, ["振込データの形が正しくありません"])
        try:
            t = Transfer._make(t)
            problems = _transfer_problems(t)
        except (TypeError, AttributeError):
            problems = ["振込データの形が正しくありません"]
        if problems:
            return _refuse(t, n, problems)
    return None


def _check_totals(before: int, records: list[str], items: list[Transfer], total: object) -> None:
    """The file's limits, and amounts that are ints (a Decimal prints like one), once a block."""
    if type(total) is not int:
        for n, t in enumerate(items, start=before + 1):
            if type(t.amount_yen) is not int:
                raise _refuse(t, n)
    count = before + len(records)
    if count > MAX_COUNT or total > MAX_TOTAL_YEN:  # type: ignore[operator]
        raise ZenginError(
            f"振込データ {before + 1}～{count} 件目で、1ファイルの上限（{MAX_COUNT:,}件・合計"
            f"{MAX_TOTAL_YEN:,}円）を超えます。バッチを分けてください。"
        )


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
        data = _encode_zengin_set("\r\n".join(records) + "\r\n") if records else b""
        if data is None or not _block_fits(data, items):
            if refusal := _first_refusal(items, first):
                raise refusal
            for n, (record, t) in enumerate(zip(records, items, strict=True), start=first):
                one = _encode_zengin_set(record + "\r\n")
                if one is None or not _DATA_BLOCK.fullmatch(one):
                    raise _refuse(t, n, ["全銀形式に合わない値があります"])
            raise AssertionError("a block failed its check but none of its transfers did")  # pragma: no cover
        if pending:
            data = pending.pop() + data
        if data:
            emit(data)

    count = total = 0
    iterator = iter(transfers)
    while block := list(islice(iterator, _BLOCK)):
        # A block at a time, in C as far as possible: every field is padded to at least its
        # width and the codes are checked for theirs (all 4 and 3 long), so a record of 120
        # characters has each field in its place, and check_and_emit checks the characters of
        # every position (digits, the kana set, a non-zero amount) over the block's bytes.
        try:
            if set(map(len, map(_BANK, block))) != {4} or set(map(len, map(_BRANCH, block))) != {3}:
                raise ValueError
            records = _format_block(block)
            total += sum(map(_AMOUNT, block))
        except (TypeError, ValueError, KeyError, AttributeError):
            refusal = _first_refusal(block, count + 1)
            raise refusal or ZenginError(f"振込データ {count + 1} 件目から書けない値があります。") from None
        _check_totals(count, records, block, total)
        check_and_emit(records, block, count + 1)
        count += len(block)
    if count == 0:
        raise ZenginError("振込データが1件もありません。")
    emit(f"8{count:06d}{total:012d}{'':101}\r\n9{'':119}\r\n".encode(ENCODING))
    return ZenginSummary(count=count, total_yen=total, size_bytes=size, sha256=digest.hexdigest())
