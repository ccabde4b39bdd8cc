"""The four kinds of platform file: their columns, keys, and the SQL that casts, guards and checks
every record (see ``../shared/interfaces/regionpay-exchange.md``)."""

from __future__ import annotations

from dataclasses import dataclass

# --- what a good value looks like, in SQL ------------------------------------------------------
# Every pattern is anchored and bounded, so a value that matches also casts without error
# (day-of-month is checked against the month's length separately).
# Years 1900-2999: PostgreSQL has no year 0, and nothing on a coupon is older or much newer.
_DATE = r"(19|2\d)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
TIMESTAMP_RE = (
    "^" + _DATE + r"[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$"
)
DATE_RE = "^" + _DATE + "$"
# Seven or more digits of a second: PostgreSQL would round them to the microsecond it stores, which
# can move an instant across a cut-off (23:59:59.9999995 becomes the next day); the contract's ISO
# 8601 allows them, so they are named and refused rather than called "without an offset".
TOO_FINE_RE = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{7,}"
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

    ``timestamp_column`` must hold an ISO 8601 timestamp with an offset on every line, and no
    field may be quoted or have a space at either end (what the staging path would trim): both
    checked in the stream. ``not_null_text`` are text columns whose empty cells mean '' rather than
    NULL. A new row that is ``unknown`` (an SQL condition over the new row ``m`` and ``joins``)
    sends the file to the staging path, which normalises and names problems.
    """

    timestamp_column: str
    not_null_text: tuple[str, ...]
    joins: tuple[str, ...]
    unknown: str


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
    # What a new row of this kind changes for the readers that follow the ledger
    # (``coupons.services.ledger_changes``): (scope, key column); None for reference data.
    change: tuple[str, str] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


def _timestamp_checks(col: str, *, required: bool) -> tuple[Check, ...]:
    missing = (Check(col, f"r.{col} IS NULL", "値がありません"),) if required else ()
    return (
        *missing,
        Check(
            col,
            f"r.{col} ~ '{TOO_FINE_RE}'",
            "秒の小数は 6 桁（マイクロ秒）までです（7 桁以上は丸めると時刻が変わるため取り込みません）",
        ),
        Check(
            col,
            f"r.{col} IS NOT NULL AND r.{col} !~ '{TOO_FINE_RE}' "
            f"AND NOT (CASE WHEN r.{col} ~ '{TIMESTAMP_RE}' "
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
            f"r.{col} IS NOT NULL AND r.{col} !~ '{PREFECTURE_RE}'",
            # Two digits as written: "1" is not silently Hokkaido's "01" (a dropped digit, or a
            # spreadsheet that ate a zero, must be fixed at the source).
            "都道府県コードは JIS X 0401 の 2 桁（01〜47）で書いてください",
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
        "prefecture_code": "r.prefecture_code",
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
        "prefecture_code": "r.prefecture_code",
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
        *_text_checks("app_email", required=False, max_length=254),
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


MOVEMENTS_DIRECT = DirectCopy(
    timestamp_column="occurred_at",
    not_null_text=("request_id", "app_account_id"),
    joins=(
        "LEFT JOIN coupons_coupon c ON c.inquiry_number = m.inquiry_number",
        "LEFT JOIN coupons_store st ON st.store_id = m.store_id",
    ),
    unknown=(
        "c.inquiry_number IS NULL"  # unknown, or not normalised: the staging path decides
        " OR (m.store_id IS NOT NULL AND st.store_id IS NULL)"
        " OR (m.kind = 'cancel' AND m.request_id = '')"  # refused: the staging path names it
    ),
)

MOVEMENTS = FileKind(
    name="movements",
    table="coupons_couponmovement",
    key=("movement_id",),
    change=("coupon", "inquiry_number"),
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
        "request_id": (
            f"(CASE WHEN r.kind = 'cancel' AND r.request_id IS NULL "
            f"THEN {_reject('request_id: a cancel without request_id', 'text')} "
            f"ELSE coalesce(r.request_id, '') END)"
        ),
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
        Check(
            "request_id",
            "r.kind = 'cancel' AND r.request_id IS NULL",
            "取消（cancel）には、取り消す決済の request_id が必要です",
        ),
        *_text_checks("app_account_id", required=False, max_length=64),
    ),
    direct=MOVEMENTS_DIRECT,
)

TENDERS = ("cash", "card", "coupon", "qr", "other")

STORE_SALES = FileKind(
    name="store_sales",
    table="coupons_storesale",
    key=("store_id", "receipt_number"),
    change=("store", "store_id"),
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
