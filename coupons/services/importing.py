"""Import of the region PAY platform's CSV files (``../shared/interfaces/regionpay-exchange.md``).

How a file goes in, in one transaction of its own:

1. The header is read in Python: it names the file's kind and maps the (free-order,
   case-insensitive) columns; a missing column stops the file at line 1.
2. The rest of the file is streamed, in chunks and in constant memory, through PostgreSQL ``COPY``
   into a temporary all-text staging table whose identity column numbers the records in file order.
3. One ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` casts, guards and merges the records on
   their key. Casts, the tables' constraints and a few guards refuse any bad record; then one
   set-based query runs every check (formats, signs, unknown coupons and stores) to name the lines
   and columns, and the file's transaction is rolled back: nothing of that file is imported.
4. When not every record was new, one more query tells the unchanged from the conflicts (a key
   seen before with different content): conflicts are reported and never overwrite.

Files given together are taken in dependency order (stores, coupons, movements, store sales).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.db import DataError as DjangoDataError
from django.db import IntegrityError as DjangoIntegrityError
from django.db import connection, transaction
from psycopg import errors as pg_errors

logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 20
CHUNK_BYTES = 1 << 20
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "cp932": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
}

# Progress callback: (file name, phase, done, total). Phases: "copy" (bytes), "check", "merge".
Progress = Callable[[str, str, int, int], None]


# --- what a good value looks like, in SQL ------------------------------------------------------
# Every pattern is anchored and bounded, so a value that matches also casts without error
# (day-of-month is checked against the month's length separately).
# Years 1900-2999: PostgreSQL has no year 0, and nothing on a coupon is older or much newer.
_DATE = r"(19|2\d)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
TIMESTAMP_RE = (
    "^" + _DATE + r"[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$"
)
DATE_RE = "^" + _DATE + "$"
INTEGER_RE = r"^[+-]?\d{1,15}$"
INQUIRY_RE = r"^[A-Z0-9]{1,32}$"
# The fast path's shape of a timestamp (PostgreSQL's cast then checks the ranges): a date, a time
# and an offset. Anchored at both ends: "2023-02-24" alone must not pass for "-24" as an offset.
TIMESTAMP_SHAPE_RE = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?([Zz]|[+-]\d\d(:?\d\d)?)$"
PREFECTURE_RE = r"^(0[1-9]|[1-3]\d|4[0-7])$"
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_JP_RE = r"^\+81[1-9]\d{8,9}$"
E164_RE = r"^\+[1-9]\d{6,14}$"


def _day_exists(expr: str) -> str:
    """True when the YYYY-MM-DD at the start of ``expr`` is a real day (no 02-30)."""
    return (
        f"substr({expr}, 9, 2)::int <= extract(day from "
        f"(substr({expr}, 1, 7) || '-01')::date + interval '1 month' - interval '1 day')"
    )


def _prefecture(expr: str) -> str:
    """A one-digit code gets its leading zero ("1" -> "01"); nothing is ever cut ("123" stays)."""
    return f"(CASE WHEN length({expr}) = 1 THEN '0' || {expr} ELSE {expr} END)"


def _phone_pattern_ok(e164: str) -> str:
    """Japanese numbers by the Japanese plan (+81, no trunk 0, 9-10 digits), others by E.164."""
    return f"(CASE WHEN {e164} LIKE '+81%' THEN {e164} ~ '{E164_JP_RE}' ELSE {e164} ~ '{E164_RE}' END)"


def _phone_e164(expr: str) -> str:
    """A phone number in E.164 or Japanese national format, as E.164 (+81...)."""
    digits = f"regexp_replace(normalize({expr}, NFKC), '[\\s()\\-‐－]', '', 'g')"
    return f"(CASE WHEN {digits} LIKE '0%' THEN '+81' || substr({digits}, 2) ELSE {digits} END)"


def _reject(message: str, sql_type: str) -> str:
    """An SQL expression that raises (SQLSTATE 22000) with ``message``; used on the fast path."""
    return f"regionpay_reject('{message}', NULL::{sql_type})"


def _timestamptz(col: str) -> str:
    """Cast to timestamptz, refusing a timestamp without an offset (never guess the zone)."""
    return (
        f"(CASE WHEN r.{col} IS NULL THEN NULL "
        f"WHEN r.{col} ~ '{TIMESTAMP_SHAPE_RE}' THEN r.{col}::timestamptz "
        f"ELSE {_reject(col + ': not an ISO 8601 timestamp with offset', 'timestamptz')} END)"
    )


def _date(col: str) -> str:
    return (
        f"(CASE WHEN r.{col} ~ '^\\d{{4}}-\\d\\d-\\d\\d$' THEN r.{col}::date "
        f"ELSE {_reject(col + ': not YYYY-MM-DD', 'date')} END)"
    )


@dataclass(frozen=True)
class Check:
    """A rule for one column: ``bad`` is an SQL condition, over the typed-or-raw row, true when bad."""

    column: str
    bad: str
    message: str


@dataclass(frozen=True)
class DirectCopy:
    """How a large file of this kind may be copied straight into its table (see ``_copy_direct``).

    ``timestamp_column`` must hold an ISO 8601 timestamp with an offset on every line (checked in
    the stream); ``not_null_text`` are text columns whose empty cells mean '' rather than NULL;
    ``suspicious`` is an SQL condition over a new row ``m`` (and ``joins``) that sends the file to
    the staging path, which normalises, trims and names problems.
    """

    timestamp_column: str
    not_null_text: tuple[str, ...]
    joins: tuple[str, ...]
    suspicious: str


@dataclass(frozen=True)
class FileKind:
    name: str
    table: str
    key: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # target column -> SQL expression over the staging row ``r`` (text, trimmed, '' as NULL) and
    # ``joins``. The fast path: together with the table's own types and constraints, these refuse
    # every record that one of ``checks`` would name; ``checks`` only run to explain a refusal.
    typed: dict[str, str]
    checks: tuple[Check, ...]
    joins: tuple[str, ...] = ()
    direct: DirectCopy | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


def _present(col: str) -> str:
    return f"r.{col} IS NOT NULL"


def _timestamp_checks(col: str, *, required: bool) -> tuple[Check, ...]:
    missing = (Check(col, f"r.{col} IS NULL", "値がありません"),) if required else ()
    return (
        *missing,
        Check(
            col,
            f"r.{col} IS NOT NULL AND NOT (CASE WHEN r.{col} ~ '{TIMESTAMP_RE}' "
            f"THEN {_day_exists('r.' + col)} ELSE false END)",
            "日時は ISO 8601 で、タイムゾーン付き（例 2023-02-24T18:03:12+09:00）で書いてください",
        ),
    )


def _integer_checks(col: str) -> tuple[Check, ...]:
    return (
        Check(col, f"r.{col} IS NULL", "値がありません"),
        Check(
            col,
            f"r.{col} IS NOT NULL AND r.{col} !~ '{INTEGER_RE}'",
            "整数の円（区切りなし）ではありません",
        ),
    )


def _inquiry_checks(col: str, *, required: bool) -> tuple[Check, ...]:
    missing = (Check(col, f"r.{col} IS NULL", "値がありません"),) if required else ()
    return (
        *missing,
        Check(
            col,
            f"r.{col} IS NOT NULL AND regionpay_inquiry(r.{col}) !~ '{INQUIRY_RE}'",
            "お問合せ番号は英数字1〜32文字です（全角・ハイフン・空白は自動で除きます）",
        ),
    )


def _prefecture_checks(col: str) -> tuple[Check, ...]:
    return (
        Check(col, f"r.{col} IS NULL", "値がありません"),
        Check(
            col,
            f"r.{col} IS NOT NULL AND {_prefecture('r.' + col)} !~ '{PREFECTURE_RE}'",
            "都道府県コードは JIS X 0401 の 01〜47 です",
        ),
    )


def _text_checks(col: str, *, required: bool, max_length: int) -> tuple[Check, ...]:
    missing = (Check(col, f"r.{col} IS NULL", "値がありません"),) if required else ()
    return (
        *missing,
        Check(col, f"length(r.{col}) > {max_length}", f"{max_length}文字を超えています"),
    )


STORES = FileKind(
    name="stores",
    table="coupons_store",
    key=("store_id",),
    required=("store_id", "store_name", "prefecture_code"),
    optional=("address",),
    typed={
        "store_id": "r.store_id",
        "store_name": "r.store_name",
        "prefecture_code": _prefecture("r.prefecture_code"),
        "address": "coalesce(r.address, '')",
    },
    checks=(
        *_text_checks("store_id", required=True, max_length=64),
        *_text_checks("store_name", required=True, max_length=200),
        *_prefecture_checks("prefecture_code"),
    ),
)

COUPONS = FileKind(
    name="coupons",
    table="coupons_coupon",
    key=("inquiry_number",),
    required=(
        "inquiry_number",
        "face_value_yen",
        "issued_at",
        "expires_on",
        "issuing_shop",
        "prefecture_code",
    ),
    optional=("app_account_id", "app_phone", "app_email", "app_withdrawn_at"),
    typed={
        "inquiry_number": "regionpay_inquiry(r.inquiry_number)",
        "face_value_yen": "r.face_value_yen::bigint",
        "issued_at": _timestamptz("issued_at"),
        "expires_on": _date("expires_on"),
        "issuing_shop": "r.issuing_shop",
        "prefecture_code": _prefecture("r.prefecture_code"),
        "app_account_id": "coalesce(r.app_account_id, '')",
        "app_phone": (
            f"(CASE WHEN r.app_phone IS NULL THEN '' WHEN {_phone_pattern_ok(_phone_e164('r.app_phone'))} "
            f"THEN {_phone_e164('r.app_phone')} ELSE {_reject('app_phone: not a phone number', 'text')} END)"
        ),
        "app_email": (
            f"(CASE WHEN r.app_email IS NULL THEN '' WHEN r.app_email ~ '{EMAIL_RE}' THEN lower(r.app_email) "
            f"ELSE {_reject('app_email: not an e-mail address', 'text')} END)"
        ),
        "app_withdrawn_at": _timestamptz("app_withdrawn_at"),
    },
    checks=(
        *_inquiry_checks("inquiry_number", required=True),
        *_integer_checks("face_value_yen"),
        Check(
            "face_value_yen",
            f"r.face_value_yen ~ '{INTEGER_RE}' AND r.face_value_yen::bigint < 0",
            "額面が負です",
        ),
        *_timestamp_checks("issued_at", required=True),
        Check("expires_on", "r.expires_on IS NULL", "値がありません"),
        Check(
            "expires_on",
            f"r.expires_on IS NOT NULL AND NOT (CASE WHEN r.expires_on ~ '{DATE_RE}' "
            f"THEN {_day_exists('r.expires_on')} ELSE false END)",
            "日付は YYYY-MM-DD で書いてください",
        ),
        *_text_checks("issuing_shop", required=True, max_length=200),
        *_prefecture_checks("prefecture_code"),
        *_text_checks("app_account_id", required=False, max_length=64),
        Check(
            "app_phone",
            f"r.app_phone IS NOT NULL AND NOT {_phone_pattern_ok(_phone_e164('r.app_phone'))}",
            "電話番号として読めません（E.164 か 090-1234-5678 の形で）",
        ),
        Check(
            "app_email",
            f"r.app_email IS NOT NULL AND r.app_email !~ '{EMAIL_RE}'",
            "メールアドレスとして読めません",
        ),
        *_timestamp_checks("app_withdrawn_at", required=False),
    ),
)

MOVEMENT_KINDS = ("issue", "charge", "payment", "cancel", "reinstatement", "adjustment")
_SIGN_BY_KIND = {
    "issue": ("> 0", "発行（issue）の金額は正の数です"),
    "charge": ("= 0", "チャージ（charge）の金額は 0 です"),
    "payment": ("< 0", "決済（payment）の金額は負の数です"),
    "cancel": ("> 0", "取消（cancel）の金額は正の数です"),
    "reinstatement": ("> 0", "戻入（reinstatement）の金額は正の数です"),
}


def _untrimmed(column: str) -> str:
    return f"(m.{column} = '' OR m.{column} <> btrim(m.{column}))"


MOVEMENTS_DIRECT = DirectCopy(
    timestamp_column="occurred_at",
    not_null_text=("request_id", "app_account_id"),
    joins=(
        "LEFT JOIN coupons_coupon c ON c.inquiry_number = m.inquiry_number",
        "LEFT JOIN coupons_store st ON st.store_id = m.store_id",
    ),
    suspicious=(
        "c.inquiry_number IS NULL"  # unknown, or not normalised: the staging path decides
        " OR (m.store_id IS NOT NULL AND st.store_id IS NULL)"
        f" OR {_untrimmed('movement_id')} OR {_untrimmed('store_id')}"
        " OR m.request_id <> btrim(m.request_id) OR m.app_account_id <> btrim(m.app_account_id)"
    ),
)

MOVEMENTS = FileKind(
    name="movements",
    table="coupons_couponmovement",
    key=("movement_id",),
    required=("movement_id", "inquiry_number", "kind", "amount_yen", "occurred_at"),
    optional=("store_id", "request_id", "app_account_id"),
    typed={
        "movement_id": "r.movement_id",
        "inquiry_number": (
            f"coalesce(c.inquiry_number, {_reject('inquiry_number: unknown coupon', 'text')})"
        ),
        "kind": "r.kind",
        "amount_yen": "r.amount_yen::bigint",
        "occurred_at": _timestamptz("occurred_at"),
        "store_id": (
            f"(CASE WHEN r.store_id IS NOT NULL AND st.store_id IS NULL "
            f"THEN {_reject('store_id: unknown store', 'text')} ELSE r.store_id END)"
        ),
        "request_id": "coalesce(r.request_id, '')",
        "app_account_id": "coalesce(r.app_account_id, '')",
    },
    joins=(
        "LEFT JOIN coupons_coupon c ON c.inquiry_number = regionpay_inquiry(r.inquiry_number)",
        "LEFT JOIN coupons_store st ON st.store_id = r.store_id",
    ),
    checks=(
        *_text_checks("movement_id", required=True, max_length=64),
        *_inquiry_checks("inquiry_number", required=True),
        Check(
            "inquiry_number",
            f"c.inquiry_number IS NULL AND regionpay_inquiry(r.inquiry_number) ~ '{INQUIRY_RE}'",
            "このお問合せ番号のクーポンがありません（coupons.csv を先に取り込んでください）",
        ),
        Check("kind", "r.kind IS NULL", "値がありません"),
        Check(
            "kind",
            "r.kind NOT IN (" + ", ".join(f"'{k}'" for k in MOVEMENT_KINDS) + ")",
            "種別は " + " / ".join(MOVEMENT_KINDS) + " のいずれかです",
        ),
        *_integer_checks("amount_yen"),
        *(
            Check(
                "amount_yen",
                f"r.kind = '{kind}' AND r.amount_yen ~ '{INTEGER_RE}' AND NOT r.amount_yen::bigint {sign}",
                message,
            )
            for kind, (sign, message) in _SIGN_BY_KIND.items()
        ),
        *_timestamp_checks("occurred_at", required=True),
        *_text_checks("store_id", required=False, max_length=64),
        Check(
            "store_id",
            "r.kind IN ('payment', 'cancel') AND r.store_id IS NULL",
            "決済・取消には店舗IDが必要です",
        ),
        Check(
            "store_id",
            "r.store_id IS NOT NULL AND st.store_id IS NULL",
            "この店舗IDの店舗がありません（stores.csv を先に取り込んでください）",
        ),
        *_text_checks("request_id", required=False, max_length=64),
        *_text_checks("app_account_id", required=False, max_length=64),
    ),
    direct=MOVEMENTS_DIRECT,
)

TENDERS = ("cash", "card", "coupon", "qr", "other")

STORE_SALES = FileKind(
    name="store_sales",
    table="coupons_storesale",
    key=("store_id", "receipt_number"),
    required=("store_id", "receipt_number", "occurred_at", "amount_yen", "tender"),
    optional=("inquiry_number",),
    typed={
        "store_id": f"coalesce(st.store_id, {_reject('store_id: unknown store', 'text')})",
        "receipt_number": "r.receipt_number",
        "occurred_at": _timestamptz("occurred_at"),
        "amount_yen": "r.amount_yen::bigint",
        "tender": "r.tender",
        "inquiry_number": (
            f"(CASE WHEN r.inquiry_number IS NULL THEN '' "
            f"WHEN regionpay_inquiry(r.inquiry_number) ~ '{INQUIRY_RE}' "
            f"THEN regionpay_inquiry(r.inquiry_number) "
            f"ELSE {_reject('inquiry_number: not an inquiry number', 'text')} END)"
        ),
    },
    joins=("LEFT JOIN coupons_store st ON st.store_id = r.store_id",),
    checks=(
        *_text_checks("store_id", required=True, max_length=64),
        Check(
            "store_id",
            "r.store_id IS NOT NULL AND st.store_id IS NULL",
            "この店舗IDの店舗がありません（stores.csv を先に取り込んでください）",
        ),
        *_text_checks("receipt_number", required=True, max_length=64),
        *_timestamp_checks("occurred_at", required=True),
        *_integer_checks("amount_yen"),
        Check(
            "amount_yen",
            f"r.amount_yen ~ '{INTEGER_RE}' AND r.amount_yen::bigint < 0",
            "金額が負です",
        ),
        Check("tender", "r.tender IS NULL", "値がありません"),
        Check(
            "tender",
            "r.tender NOT IN (" + ", ".join(f"'{t}'" for t in TENDERS) + ")",
            "支払方法は " + " / ".join(TENDERS) + " のいずれかです",
        ),
        *_inquiry_checks("inquiry_number", required=False),
    ),
)

# Dependency order: a file may only refer to records of the kinds before it.
KINDS: tuple[FileKind, ...] = (STORES, COUPONS, MOVEMENTS, STORE_SALES)


# --- results and errors --------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        column = f" {self.column}:" if self.column else ""
        return f"{self.file}:{self.line}:{column} {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class ImportFileError(Exception):
    """A file was refused; nothing of it was imported."""

    def __init__(self, errors: Sequence[RowError], *, bad_rows: int | None = None) -> None:
        self.errors = list(errors)
        self.bad_rows = bad_rows if bad_rows is not None else len(self.errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclass
class FileResult:
    file: str
    kind: str
    rows: int
    inserted: int
    unchanged: int
    conflicts: int
    conflict_examples: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    method: str = "staging"  # or "direct": COPY straight into the table (large valid new files)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows": self.rows,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "conflict_examples": [error.as_dict() for error in self.conflict_examples],
            "seconds": round(self.seconds, 3),
            "method": self.method,
        }


@dataclass
class ImportOutcome:
    results: list[FileResult]
    failed_file: str | None = None
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed_file is None


# --- reading a file --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Header:
    kind: FileKind
    names: list[str]  # normalised names, in file order


def _read_header(name: str, raw: bytes, encoding: str) -> _Header:
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ImportFileError([RowError(name, 1, "", f"文字コード {encoding} として読めません")]) from exc
    rows = list(csv.reader(io.StringIO(text)))
    names = [column.strip().lower() for column in rows[0]] if rows else []
    if not any(names):
        raise ImportFileError([RowError(name, 1, "", "見出し行がありません（空のファイルです）")])
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise ImportFileError([RowError(name, 1, c, "見出しが重複しています") for c in duplicated])
    kind = _kind_of(names)
    if kind is None:
        raise ImportFileError(
            [
                RowError(
                    name,
                    1,
                    "",
                    "見出しから種類（stores / coupons / movements / store_sales）が判別できません",
                )
            ]
        )
    missing = [column for column in kind.required if column not in names]
    if missing:
        raise ImportFileError(
            [RowError(name, 1, column, f"{kind.name} に必須の列がありません") for column in missing]
        )
    return _Header(kind=kind, names=names)


def _kind_of(names: Sequence[str]) -> FileKind | None:
    present = set(names)
    for marker, kind in (
        ("movement_id", MOVEMENTS),
        ("receipt_number", STORE_SALES),
        ("face_value_yen", COUPONS),
        ("expires_on", COUPONS),
        ("store_name", STORES),
    ):
        if marker in present:
            return kind
    return None


def _utf8_chunks(stream: BinaryIO, name: str, encoding: str, first_line: int) -> Iterable[bytes]:
    """The bytes after the header as UTF-8, chunk by chunk (a cp932 file is re-encoded on the way)."""
    if encoding == "utf-8":
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = first_line
    while True:
        chunk = stream.read(CHUNK_BYTES)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line += chunk.count(b"\n", 0, exc.start)
            raise ImportFileError(
                [RowError(name, line, "", f"文字コード {encoding} として読めません")]
            ) from exc
        line += chunk.count(b"\n")
        if text:
            yield text.encode("utf-8")
        if not chunk:
            return


_COPY_LINE = re.compile(r"line (\d+)")


def _copy_error(name: str, exc: Exception) -> ImportFileError:
    """Turn PostgreSQL's COPY error into a file/line message (COPY counts lines after the header)."""
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    match = _COPY_LINE.search(context)
    line = int(match.group(1)) + 1 if match else 0
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
    if isinstance(exc, pg_errors.CharacterNotInRepertoire | pg_errors.UntranslatableCharacter):
        message = "UTF-8 として読めない文字があります（Shift_JIS なら --encoding cp932）"
    elif "extra data after last expected column" in primary:
        message = "列の数が見出しより多い行です"
    elif "missing data for column" in primary:
        message = "列の数が見出しより少ない行です"
    elif "unterminated CSV quoted field" in primary:
        message = '引用符（"）が閉じていません'
    else:
        message = f"CSV として読めません: {primary}"
    return ImportFileError([RowError(name, line, "", message)])


# --- the import ------------------------------------------------------------------------------------
def _stage_sql(header: _Header) -> tuple[str, str]:
    columns = ", ".join(f"f{i} text" for i in range(len(header.names)))
    create = (
        "CREATE TEMP TABLE regionpay_stage (line bigint GENERATED ALWAYS AS IDENTITY, "
        f"{columns}) ON COMMIT DROP"
    )
    copy = (
        f"COPY regionpay_stage ({', '.join(f'f{i}' for i in range(len(header.names)))}) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    return create, copy


def _row_sql(header: _Header) -> str:
    """The staging rows with the kind's column names: trimmed, '' as NULL, absent columns NULL."""
    position = {name: i for i, name in enumerate(header.names)}
    parts = ["s.line"]
    for column in header.kind.columns:
        source = f"nullif(btrim(s.f{position[column]}), '')" if column in position else "NULL::text"
        parts.append(f"{source} AS {column}")
    return f"SELECT {', '.join(parts)} FROM regionpay_stage s"


def _check_file(cursor, name: str, header: _Header) -> None:
    kind = header.kind
    problems = ", ".join(f"CASE WHEN {check.bad} THEN {index} END" for index, check in enumerate(kind.checks))
    joins = " ".join(kind.joins)
    cursor.execute(
        f"""
        WITH r AS ({_row_sql(header)}),
        bad AS (
          SELECT r.line, array_remove(ARRAY[{problems}], NULL) AS problems
          FROM r {joins}
        )
        SELECT line, problems, count(*) OVER () AS bad_rows
        FROM bad WHERE cardinality(problems) > 0
        ORDER BY line LIMIT {MAX_REPORTED_ERRORS}
        """
    )
    rows = cursor.fetchall()
    if not rows:
        return
    errors: list[RowError] = []
    for line, problems, _bad in rows:
        seen: set[str] = set()
        for index in problems:
            check = kind.checks[index]
            if check.column in seen:  # one message per cell is enough
                continue
            seen.add(check.column)
            errors.append(RowError(name, line + 1, check.column, check.message))
    raise ImportFileError(errors[:MAX_REPORTED_ERRORS], bad_rows=rows[0][2])


def _typed_rows(header: _Header) -> str:
    typed = ", ".join(f"{expr} AS {column}" for column, expr in header.kind.typed.items())
    return f"SELECT r.line, {typed} FROM ({_row_sql(header)}) r {' '.join(header.kind.joins)}"


def _merge(cursor, name: str, header: _Header, rows: int) -> tuple[int, int, list[RowError]]:
    """Insert the new records in one pass; return (inserted, conflicts, conflict examples).

    Optimistic: valid files (the normal case) are read once. When PostgreSQL refuses a record
    (a cast, a constraint, a guard), the savepoint is rolled back and the checks run to name
    every bad line and column.
    """
    kind = header.kind
    columns = ", ".join(kind.typed)
    typed_rows = _typed_rows(header)
    try:
        with transaction.atomic():
            cursor.execute(
                f"INSERT INTO {kind.table} ({columns}) "
                # No ORDER BY: the staging table is read in file order, and a sort would spill.
                f"SELECT {columns} FROM ({typed_rows}) t "
                f"ON CONFLICT ({', '.join(kind.key)}) DO NOTHING"
            )
            inserted = cursor.rowcount
    except (
        pg_errors.DataError,
        pg_errors.IntegrityError,
        DjangoDataError,
        DjangoIntegrityError,
    ) as exc:
        _check_file(cursor, name, header)
        # The checks found nothing the database refused: say what the database said.
        cause = getattr(exc, "__cause__", None) or exc
        primary = getattr(getattr(cause, "diag", None), "message_primary", None) or str(exc)
        raise ImportFileError(
            [RowError(name, 0, "", f"PostgreSQL が取り込みを拒否しました: {primary}")]
        ) from exc
    if inserted == rows:  # every record was new: nothing can be unchanged or in conflict
        return inserted, 0, []
    return inserted, *_conflicts(cursor, name, header, typed_rows)


def _conflicts(cursor, name: str, header: _Header, typed_rows: str) -> tuple[int, list[RowError]]:
    kind = header.kind
    compared = [c for c in kind.typed if c not in kind.key]
    on = " AND ".join(f"x.{c} = t.{c}" for c in kind.key)
    differs = (
        f"ROW({', '.join('x.' + c for c in compared)}) IS DISTINCT FROM "
        f"ROW({', '.join('t.' + c for c in compared)})"
    )
    cursor.execute(
        f"""
        SELECT t.line, count(*) OVER ()
        FROM ({typed_rows}) t JOIN {kind.table} x ON {on}
        WHERE {differs}
        ORDER BY t.line LIMIT {MAX_REPORTED_ERRORS}
        """
    )
    rows = cursor.fetchall()
    if not rows:
        return 0, []
    message = "既に取り込んだ同じキーの記録と内容が違います（上書きしません）"
    return rows[0][1], [RowError(name, line + 1, ",".join(kind.key), message) for line, _ in rows]


# --- the direct path for large files -----------------------------------------------------------
# A valid file of new movements is the normal case of a bulk load, and COPY into the table itself
# is several times faster than staging and INSERT ... SELECT (COPY writes the heap in batches). The
# direct path is tried first for large files and gives way to the staging path at the first doubt:
# any error of COPY (a cast, a constraint, a key seen before), a line whose timestamp lacks an
# offset, or a new row that is suspicious (unknown coupon or store, untrimmed text). The staging path
# then does the whole file again, and decides, merges and explains as usual.
DIRECT_MIN_BYTES = 16 << 20
_ISO_WITH_OFFSET = rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)"


class _NotDirect(Exception):
    """The file needs the staging path."""


def _direct_eligible(header: _Header, encoding: str, size: int) -> bool:
    kind = header.kind
    return (
        kind.direct is not None
        and encoding == "utf-8"
        and size >= DIRECT_MIN_BYTES
        and set(header.names) <= set(kind.columns)
        # The new rows are found by their transaction id, so the import must own its transaction.
        and not connection.in_atomic_block
    )


def _offset_lines(header: _Header) -> re.Pattern[bytes]:
    """Matches a line whose ``timestamp_column`` is an ISO timestamp with an offset (simple CSV:
    a quote before that column makes the line not match, and so sends the file to staging)."""
    assert header.kind.direct is not None  # noqa: S101 - guarded by _direct_eligible
    position = header.names.index(header.kind.direct.timestamp_column)
    return re.compile(
        rb'^(?:[^,\n"]*,){' + str(position).encode() + rb"}" + _ISO_WITH_OFFSET + rb"(?=,|\r?$)",
        re.MULTILINE,
    )


def _copy_direct(cursor, stream: BinaryIO, name: str, header: _Header, size: int, progress) -> int:
    """COPY the file into its table; return the rows copied, or raise _NotDirect."""
    kind = header.kind
    direct = kind.direct
    assert direct is not None  # noqa: S101 - guarded by _direct_eligible
    columns = ", ".join(header.names)
    not_null = [c for c in direct.not_null_text if c in header.names]
    options = "FORMAT csv" + (f", FORCE_NOT_NULL ({', '.join(not_null)})" if not_null else "")
    lines_ok = _offset_lines(header)
    carry = b""
    try:
        # psycopg's queued writer thread buys nothing measurable here (the server is the bottleneck)
        # and would buffer up to 128 MB: the plain writer keeps memory flat.
        with cursor.copy(f"COPY {kind.table} ({columns}) FROM STDIN WITH ({options})") as copy:
            while True:
                chunk = stream.read(CHUNK_BYTES)
                block = carry + chunk
                if chunk:
                    cut = block.rfind(b"\n") + 1
                    block, carry = block[:cut], block[cut:]
                if block and len(lines_ok.findall(block)) != block.count(b"\n") + (
                    0 if block.endswith(b"\n") else 1
                ):
                    raise _NotDirect("a timestamp without an offset, or a line too complex to check")
                if block:
                    copy.write(block)
                if progress:
                    progress(name, "copy", min(stream.tell(), size), size)
                if not chunk:
                    break
    except (pg_errors.DataError, pg_errors.IntegrityError, pg_errors.QueryCanceled) as exc:
        # Not the message: it may quote a value, and values stay out of logs.
        raise _NotDirect(type(exc).__name__) from exc
    copied = cursor.rowcount
    cursor.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE {direct.suspicious})
        FROM {kind.table} m {" ".join(direct.joins)}
        WHERE m.xmin = pg_current_xact_id()::xid
        """
    )
    new_rows, suspicious = cursor.fetchone()
    if new_rows != copied or suspicious:
        raise _NotDirect(f"{suspicious} suspicious rows of {new_rows} (copied {copied})")
    return copied


def _import_one(path: Path, encoding: str, progress: Progress | None) -> FileResult:
    name = path.name
    started = time.monotonic()
    size = path.stat().st_size
    with path.open("rb") as stream:
        header = _read_header(name, stream.readline(), encoding)
        body = stream.tell()
        if _direct_eligible(header, encoding, size):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    rows = _copy_direct(cursor, stream, name, header, size, progress)
                return FileResult(
                    file=name,
                    kind=header.kind.name,
                    rows=rows,
                    inserted=rows,
                    unchanged=0,
                    conflicts=0,
                    seconds=time.monotonic() - started,
                    method="direct",
                )
            except _NotDirect as exc:
                logger.info("import %s: staging path (%s)", name, exc)
                stream.seek(body)
        create_sql, copy_sql = _stage_sql(header)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            # ON COMMIT DROP does not fire when the caller's transaction is still open (a service
            # or a test around the import): drop a previous file's staging table explicitly.
            cursor.execute("DROP TABLE IF EXISTS pg_temp.regionpay_stage")
            cursor.execute(create_sql)
            try:
                with cursor.copy(copy_sql) as copy:
                    for chunk in _utf8_chunks(stream, name, encoding, first_line=2):
                        copy.write(chunk)
                        if progress:
                            progress(name, "copy", min(stream.tell(), size), size)
            except (pg_errors.DataError, pg_errors.BadCopyFileFormat) as exc:
                raise _copy_error(name, exc) from exc
            cursor.execute("SELECT count(*) FROM regionpay_stage")
            rows = cursor.fetchone()[0]
            if progress:
                progress(name, "merge", 0, rows)
            inserted, conflicts, examples = _merge(cursor, name, header, rows)
    return FileResult(
        file=name,
        kind=header.kind.name,
        rows=rows,
        inserted=inserted,
        unchanged=rows - inserted - conflicts,
        conflicts=conflicts,
        conflict_examples=examples,
        seconds=time.monotonic() - started,
    )


def file_kind(path: Path, encoding: str = "utf-8") -> FileKind:
    with path.open("rb") as stream:
        return _read_header(path.name, stream.readline(), _encoding(encoding)).kind


def _encoding(encoding: str) -> str:
    try:
        return ENCODINGS[encoding.strip().lower()]
    except KeyError:
        raise ValueError(f"unsupported encoding {encoding!r}: use utf-8 or cp932") from None


def regionpay_import(
    *, paths: Sequence[Path], encoding: str = "utf-8", progress: Progress | None = None
) -> ImportOutcome:
    """Import platform files, each in its own transaction, in dependency order.

    The first file refused stops the import: nothing of it is imported, files before it stay
    imported (re-importing them later changes nothing), files after it are skipped.
    """
    encoding = _encoding(encoding)
    ordered: list[tuple[int, Path]] = []
    outcome = ImportOutcome(results=[])
    for path in paths:
        try:
            ordered.append((KINDS.index(file_kind(path, encoding)), path))
        except ImportFileError as exc:
            outcome.failed_file, outcome.errors, outcome.bad_rows = (
                path.name,
                exc.errors,
                exc.bad_rows,
            )
            outcome.skipped = [p.name for p in paths if p != path]
            return outcome
    ordered.sort(key=lambda item: item[0])
    for position, (_, path) in enumerate(ordered):
        try:
            outcome.results.append(_import_one(path, encoding, progress))
        except ImportFileError as exc:
            outcome.failed_file, outcome.errors, outcome.bad_rows = (
                path.name,
                exc.errors,
                exc.bad_rows,
            )
            outcome.skipped = [p.name for _, p in ordered[position + 1 :]]
            break
    return outcome
