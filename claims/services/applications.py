"""Applications on the special site (補償対応特設サイト) and its JSON twin: check a coupon, apply,
prove the contact with a six-digit code, look the claim up.

The pages (``claims.views``) and the API (``claims.api``) both call these functions and the field
normalisers below, so the two can never disagree. Contract: ``public-api.md`` §1-§4.

State machine of an application (one transitions table, one service per transition, each locking
the row and writing an ``ApplicationStatusChange``)::

    awaiting_verification ──right code──▶ submitted
            │
            └──5th wrong code / code older than 30 minutes──▶ void

Every "now" is the portal clock (``config.clock.now()``); the 30 minutes and the minute between
two codes run on it. Messages (codes, confirmation) are written to the outbox in the same
transaction as the change that causes them (``notifications.services.message_enqueue``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import translation
from django.utils.crypto import salted_hmac

from claims.banking.banks import get_bank, get_branch
from claims.banking.kana import KanaError, zengin_kana
from claims.banking.yucho import yucho_to_account
from claims.models import Application, ApplicationStatusChange, BankAccount, Entitlement, Incident
from config import clock
from config.inserts import NewRow, insert_rows
from config.prepared import fetchone_prepared
from coupons.inquiry import is_valid as inquiry_is_valid
from coupons.inquiry import normalize_inquiry_number
from notifications.phones import is_mobile
from notifications.services import message_enqueue, message_prepare, message_rows, message_send_on_commit

JST = ZoneInfo("Asia/Tokyo")
Status = Application.Status

CODE_TRIES = 5
CODE_LIFETIME = dt.timedelta(minutes=30)
RESEND_INTERVAL = dt.timedelta(minutes=1)
IDEMPOTENCY_KEY_LENGTH = (8, 255)

TRANSITIONS: dict[str, set[str]] = {
    Status.AWAITING_VERIFICATION: {Status.SUBMITTED, Status.VOID},
}


# --- Messages: Japanese first, English with Accept-Language: en ------------------------------------


@dataclass(frozen=True)
class Text:
    """A sentence in both languages; ``str()`` gives the one of the active Django language."""

    ja: str
    en: str

    def __str__(self) -> str:
        return self.en if (translation.get_language() or "ja").startswith("en") else self.ja

    def format(self, **values: object) -> Text:
        return Text(self.ja.format(**values), self.en.format(**values))


# --- Errors -------------------------------------------------------------------------------------


class ApplicationInvalid(Exception):
    """Input a person can correct: ``errors`` maps dotted field paths to sentences."""

    def __init__(self, errors: Mapping[str, list[Text | str]]) -> None:
        super().__init__("invalid application input")
        self.errors: dict[str, list[Text | str]] = {key: list(value) for key, value in errors.items()}


class NotApplicable(Exception):
    """The coupon check's outcome does not allow this application."""

    def __init__(self, outcome: str, message: Text) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.message = message


class IdempotencyConflict(Exception):
    """The idempotency key was used before with another request body."""


class WrongCode(Exception):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class ApplicationVoid(Exception):
    """The application is void (too many wrong codes, or the code expired): start again."""


class ApplicationNotFound(Exception):
    pass


class ResendTooSoon(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"resend in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class TransitionError(Exception):
    """A move the state machine does not allow; the message names the current state."""


# --- Field normalisers (the pages' forms use the same) -------------------------------------------


class FieldInvalid(ValueError):
    def __init__(self, message: Text) -> None:
        super().__init__(message.ja)
        self.message = message


REQUIRED = Text("入力してください。", "This field is required.")


def _text(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str | int):
        raise FieldInvalid(Text("文字で入力してください。", "Enter text."))
    return unicodedata.normalize("NFKC", str(raw)).strip()


def normalize_inquiry(raw: object) -> str:
    """お問合せ番号 as the exchange contract normalises it (full width, hyphens, spaces, case)."""
    text = _text(raw)
    if not text:
        raise FieldInvalid(
            Text("お問合せ番号を入力してください。", "Enter the inquiry number printed on the coupon.")
        )
    number = normalize_inquiry_number(text)
    if not inquiry_is_valid(number):
        raise FieldInvalid(
            Text(
                "お問合せ番号は、クーポンに印刷された英数字（32文字まで）で入力してください。",
                "Enter the inquiry number as printed on the coupon (letters and digits, up to 32).",
            )
        )
    return number


_DATE_PATTERNS = [
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
]


def parse_date(raw: object) -> dt.date:
    """``2023-02-24``, ``2023/02/24``, ``2023年2月24日``, full-width digits too."""
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    text = _text(raw).replace(" ", "")
    if not text:
        raise FieldInvalid(Text("日付を入力してください。", "Enter a date."))
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            try:
                return dt.date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                break
    raise FieldInvalid(
        Text(
            "日付は 2023-02-24 のように、正しい日付を入力してください。",
            "Enter a real date, like 2023-02-24.",
        )
    )


def parse_phone(raw: object) -> phonenumbers.PhoneNumber:
    """A Japanese phone number typed nationally (090-1234-5678) or in E.164 (+81 90 …)."""
    text = _text(raw)
    if not text:
        raise FieldInvalid(Text("電話番号を入力してください。", "Enter a phone number."))
    try:
        number = phonenumbers.parse(text, "JP")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise FieldInvalid(
            Text(
                "電話番号は 090-1234-5678 のように、正しい番号を入力してください。",
                "Enter a valid phone number, like 090-1234-5678.",
            )
        )
    return number


def phone_e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_mobile(raw: object) -> str:
    """A number that can receive SMS (060/070/080/090), as E.164."""
    number = phone_e164(parse_phone(raw))
    if not is_mobile(number):
        raise FieldInvalid(
            Text(
                "SMSを受け取れる携帯電話の番号（060・070・080・090で始まる番号）を入力するか、"
                "メールアドレスを入力してください。",
                "Enter a mobile number that can receive SMS (starting 060, 070, 080 or 090), "
                "or an e-mail address instead.",
            )
        )
    return number


def parse_email(raw: object) -> str:
    text = _text(raw)
    if not text:
        raise FieldInvalid(Text("メールアドレスを入力してください。", "Enter an e-mail address."))
    local, _, domain = text.rpartition("@")
    text = f"{local}@{domain.lower()}" if local else text
    try:
        validate_email(text)
    except ValidationError:
        raise FieldInvalid(
            Text(
                "メールアドレスは hanako@example.jp のように入力してください。",
                "Enter an e-mail address like hanako@example.jp.",
            )
        ) from None
    return text


_KANA_RE = re.compile(r"[ァ-ヺー・ 　]+")


def normalize_name_kana(raw: object) -> str:
    """フリガナ in full-width katakana (hiragana and half-width kana are converted)."""
    text = _text(raw)
    if not text:
        raise FieldInvalid(Text("フリガナを入力してください。", "Enter your name in katakana."))
    text = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)
    text = re.sub(r"\s+", " ", text)
    if not _KANA_RE.fullmatch(text) or len(text) > 100:
        raise FieldInvalid(
            Text("フリガナはカタカナで入力してください（例：チバ ハナコ）。", "Enter the name in katakana.")
        )
    return text


def normalize_name(raw: object) -> str:
    text = re.sub(r"\s+", " ", _text(raw))
    if not text:
        raise FieldInvalid(Text("氏名を入力してください。", "Enter your full name."))
    if len(text) > 100:
        raise FieldInvalid(Text("氏名は100文字以内で入力してください。", "Enter at most 100 characters."))
    return text


def normalize_prefecture(raw: object) -> str:
    text = _text(raw)
    if text.isdigit() and len(text) == 2 and 1 <= int(text) <= 47:
        return text
    raise FieldInvalid(
        Text(
            "利用都道府県は都道府県コード（千葉県は 12）で入力してください。",
            "Enter the prefecture's JIS code (12 for Chiba).",
        )
    )


def normalize_code(raw: object) -> str:
    text = _text(raw).replace(" ", "").replace("-", "")
    if not re.fullmatch(r"[0-9]{6}", text):
        raise FieldInvalid(Text("6桁の確認コードを入力してください。", "Enter the six-digit code."))
    return text


# Reference numbers: 30 symbols that cannot be confused when read aloud or typed (no 0/O, 1/I/L,
# no U), nine random symbols (44 bits) and a Luhn mod 30 check symbol, shown as XXXX-XXXX-XX.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_RANDOM_SYMBOLS = 9


def _luhn_check_symbol(payload: str) -> str:
    n = len(REFERENCE_ALPHABET)
    factor, total = 2, 0
    for char in reversed(payload):
        addend = factor * REFERENCE_ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return REFERENCE_ALPHABET[(n - total % n) % n]


def reference_number_new() -> str:
    payload = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_RANDOM_SYMBOLS))
    return payload + _luhn_check_symbol(payload)


def reference_number_display(reference: str) -> str:
    return f"{reference[:4]}-{reference[4:8]}-{reference[8:]}"


def normalize_reference(raw: object) -> str | None:
    """The stored form of a typed reference number, or None when it cannot be one."""
    try:
        text = _text(raw).upper().replace("-", "").replace(" ", "")
    except FieldInvalid:
        return None
    if len(text) != REFERENCE_RANDOM_SYMBOLS + 1 or any(c not in REFERENCE_ALPHABET for c in text):
        return None
    if _luhn_check_symbol(text[:-1]) != text[-1]:
        return None
    return text


def mask_contact(*, phone: str, email: str) -> str:
    if phone:
        national = phonenumbers.format_number(
            phonenumbers.parse(phone, "JP"), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        parts = national.split("-")
        if len(parts) == 3:
            return f"{parts[0]}-{'*' * len(parts[1])}-{parts[2]}"
        return "*" * (len(national) - 4) + national[-4:]
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


# --- 1. The coupon check ------------------------------------------------------------------------


class Outcome:
    APPLY = "apply"
    NO_APPLICATION_NEEDED = "no_application_needed"
    CALL_CENTER = "call_center"
    ALREADY_APPLIED = "already_applied"
    NOT_COVERED = "not_covered"
    NOT_FOUND = "not_found"
    WINDOW_NOT_OPEN = "window_not_open"
    WINDOW_CLOSED = "window_closed"


def _day(value: dt.date) -> Text:
    """A date of the incident in a sentence: 4月3日 / 2023-04-03."""
    return Text(f"{value.month}月{value.day}日", value.isoformat())


def outcome_message(outcome: str, *, incident: Incident | None = None) -> Text:
    blank = Text("", "")
    opens = _day(incident.application_opens_on) if incident else blank
    closes = _day(incident.application_deadline) if incident else blank
    links = _day(incident.links_from) if incident else blank
    messages = {
        Outcome.APPLY: Text(
            "このクーポンは補償の対象です。このまま申請に進んでください。",
            "This coupon is covered. Please go on with the application.",
        ),
        Outcome.NO_APPLICATION_NEEDED: Text(
            f"申請は不要です。アプリに登録された連絡先へ、{links.ja}から受取サイトのご案内をお送りします。"
            "ポイントではなく銀行振込をご希望の方は、口座を指定して申請できます。",
            "No application is needed: the receipt link will be sent to the contact registered in the "
            f"app from {links.en}. If you prefer a bank transfer to points, you can apply with your "
            "bank account.",
        ),
        Outcome.CALL_CENTER: Text(
            "このクーポンはコールセンターでの確認が必要です。0120-479-249（平日10時〜18時）へお電話ください。",
            "This coupon needs a check by the call center: please call 0120-479-249 (weekdays 10:00-18:00).",
        ),
        Outcome.ALREADY_APPLIED: Text(
            "このクーポンはすでに申請を受け付けています。受付番号で状況をご確認いただけます。",
            "An application for this coupon has already been received. You can look it up with "
            "its reference number.",
        ),
        Outcome.NOT_COVERED: Text(
            "このクーポンは今回の補償の対象ではありません。ご不明な点はコールセンターへお問い合わせください。",
            "This coupon is not covered by this compensation. Please call the call center if "
            "anything is unclear.",
        ),
        Outcome.NOT_FOUND: Text(
            "このお問合せ番号と有効期限のクーポンは見つかりませんでした。番号と期限をご確認のうえ、"
            "わからない場合はクーポンの発行店にお問い合わせください。",
            "No coupon with this inquiry number and expiry was found. Please check both; the shop "
            "that issued the coupon can tell you the number.",
        ),
        Outcome.WINDOW_NOT_OPEN: Text(
            f"申請の受付は{opens.ja}から始まります。その日以降にもう一度お越しください。",
            f"Applications open on {opens.en}. Please come back then.",
        ),
        Outcome.WINDOW_CLOSED: Text(
            f"申請の受付は{closes.ja}で終了しました。ご不明な点はコールセンターへお問い合わせください。",
            f"Applications closed on {closes.en}. Please call the call center if anything is unclear.",
        ),
    }
    return messages[outcome]


# Decisions that no longer hold anything owed for the coupon.
_CLOSED_ENTITLEMENT_STATUSES = {"rejected", "used_up", "withdrawn"}


@dataclass(frozen=True)
class _OpenEntitlement:
    """What the coupon check reads of an entitlement."""

    category: str
    status: str
    route: str
    amount_yen: int


@dataclass(frozen=True)
class CouponCheck:
    outcome: str
    groups: list[str]
    amount_yen: int | None
    message: Text
    inquiry_number: str = ""
    # The notice's "points not wanted" application: a bank transfer may be asked for this coupon.
    bank_transfer_allowed: bool = False
    incident: Incident | None = field(default=None, compare=False)


def current_incident() -> Incident:
    """The incident the site serves: the latest one whose application window has begun, else
    the first (there is one, 2023-02-24, created by a data migration)."""
    today = clock.now().astimezone(JST).date()
    incident = (
        Incident.objects.filter(application_opens_on__lte=today).order_by("-application_opens_on").first()
        or Incident.objects.order_by("pk").first()
    )
    if incident is None:
        raise Incident.DoesNotExist("no incident")
    return incident


def _window_outcome(incident: Incident) -> str | None:
    today = clock.now().astimezone(JST).date()
    if today < incident.application_opens_on:
        return Outcome.WINDOW_NOT_OPEN
    if today > incident.application_deadline:
        return Outcome.WINDOW_CLOSED
    return None


# One round trip answers a coupon check (every application asks it; see bench/claim_submit.py):
# the incident the site serves — the latest whose application window has begun, else the first, as
# current_incident() chooses — or the one given; the coupon; its open entitlements; and whether an
# application for it was submitted already. Written out in SQL and prepared once per connection:
# built with the ORM, compiling the query cost more CPU than PostgreSQL spent answering it, and
# PostgreSQL spent more planning it than running it.
_COUPON_CHECK_SQL = """
SELECT {incident_columns}, coupon.open_entitlements::text, coupon.applied
FROM (SELECT * FROM claims_incident {incident_choice} LIMIT 1) AS incident
LEFT JOIN LATERAL (
    SELECT
        (SELECT json_agg(json_build_object('category', e.category, 'status', e.status,
                                           'route', e.route, 'amount_yen', e.amount_yen)
                         ORDER BY e.category)
           FROM claims_entitlement AS e
          WHERE e.incident_id = incident.id AND e.inquiry_number = c.inquiry_number
            AND e.status <> ALL(%(closed)s)) AS open_entitlements,
        EXISTS (SELECT FROM claims_application AS a
                 WHERE a.inquiry_number = c.inquiry_number AND a.status = 'submitted') AS applied
    FROM coupons_coupon AS c
    WHERE c.inquiry_number = %(number)s AND c.expires_on = %(expires_on)s
) AS coupon ON true
"""
_CURRENT_INCIDENT = (
    "ORDER BY application_opens_on <= %(today)s DESC, "
    "CASE WHEN application_opens_on <= %(today)s THEN application_opens_on END DESC NULLS LAST, id"
)
_GIVEN_INCIDENT = "WHERE id = %(incident)s"


@dataclass(frozen=True)
class _CouponCheckRow:
    incident: Incident
    coupon_exists: bool
    open_entitlements: list[_OpenEntitlement]
    applied: bool


@functools.cache
def _coupon_check_sql(*, given_incident: bool) -> tuple[str, list[str]]:
    fields = Incident._meta.concrete_fields
    sql = _COUPON_CHECK_SQL.format(
        incident_columns=", ".join(f'incident."{f.column}"' for f in fields),
        incident_choice=_GIVEN_INCIDENT if given_incident else _CURRENT_INCIDENT,
    )
    return sql, [f.attname for f in fields]


def _coupon_check_row(*, number: str, expires_on: dt.date, incident: Incident | None) -> _CouponCheckRow:
    sql, incident_attnames = _coupon_check_sql(given_incident=incident is not None)
    params = {
        "today": clock.now().astimezone(JST).date(),
        "incident": incident.pk if incident is not None else None,
        "closed": sorted(_CLOSED_ENTITLEMENT_STATUSES),
        "number": number,
        "expires_on": expires_on,
    }
    row = fetchone_prepared(sql, params)
    if row is None:
        raise Incident.DoesNotExist("no incident")
    *incident_values, open_entitlements, applied = row
    return _CouponCheckRow(
        incident=incident or Incident.from_db(connection.alias, incident_attnames, incident_values),
        coupon_exists=applied is not None,
        open_entitlements=[_OpenEntitlement(**e) for e in json.loads(open_entitlements or "[]")],
        applied=bool(applied),
    )


def coupon_check(
    *, inquiry_number: object, expires_on: object, incident: Incident | None = None
) -> CouponCheck:
    """The instant answer when a coupon's number is typed (public-api.md §1), from the engine's
    entitlements and the incident's application window on the portal clock.

    Raises :class:`ApplicationInvalid` for input a person can correct."""
    errors: dict[str, list[Text | str]] = {}
    number = expiry = None
    try:
        number = normalize_inquiry(inquiry_number)
    except FieldInvalid as exc:
        errors["inquiry_number"] = [exc.message]
    try:
        expiry = parse_date(expires_on)
    except FieldInvalid as exc:
        errors["expires_on"] = [exc.message]
    if errors or number is None or expiry is None:
        raise ApplicationInvalid(errors)
    found = _coupon_check_row(number=number, expires_on=expiry, incident=incident)
    incident = found.incident

    def answer(outcome: str, groups: list[str], amount: int | None, bank: bool = False) -> CouponCheck:
        return CouponCheck(
            outcome=outcome,
            groups=groups,
            amount_yen=amount,
            message=outcome_message(outcome, incident=incident),
            inquiry_number=number or "",
            bank_transfer_allowed=bank,
            incident=incident,
        )

    if not found.coupon_exists:
        return answer(Outcome.NOT_FOUND, [], None)
    entitlements = found.open_entitlements
    groups = [e.category for e in entitlements]
    amount = next((e.amount_yen for e in entitlements if e.category in {"1-1", "1-2"}), None)
    if found.applied:
        return answer(Outcome.ALREADY_APPLIED, groups, amount)
    if not entitlements:
        return answer(Outcome.NOT_COVERED, groups, amount)
    by_category = {e.category: e for e in entitlements}
    left = by_category.get(Entitlement.Category.LEFT_1_1)
    extended_by_call_center = any(
        e.category != "1-1" and e.status in {"extended", "payable"} for e in entitlements
    )
    window = _window_outcome(incident)
    if left is not None and left.route == Entitlement.Route.APPLICATION:
        return answer(window or Outcome.APPLY, groups, amount, bank=window is None)
    if left is not None and left.route == Entitlement.Route.APP:
        return answer(Outcome.NO_APPLICATION_NEEDED, groups, amount, bank=window is None)
    return answer(Outcome.CALL_CENTER, groups, amount, bank=window is None and extended_by_call_center)


# --- 2. Apply -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankInput:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    holder_kana: str


@dataclass(frozen=True)
class ApplicationInput:
    inquiry_number: str
    expires_on: dt.date
    name: str
    name_kana: str
    phone: str
    email: str
    prefecture_code: str
    travel_date: dt.date
    payout_method: str
    bank: BankInput | None


def _digits(raw: object, *, length: int | None = None, max_length: int | None = None) -> str | None:
    text = _text(raw).replace("-", "").replace(" ", "")
    if not text.isdigit() or not text.isascii():
        return None
    if length is not None and len(text) != length:
        return None
    if max_length is not None and len(text) > max_length:
        return None
    return text


_ACCOUNT_TYPES = {
    "ordinary": "ordinary",
    "普通": "ordinary",
    "1": "ordinary",
    "current": "current",
    "当座": "current",
    "2": "current",
    "savings": "savings",
    "貯蓄": "savings",
    "4": "savings",
}


def _bank_input(payout: Mapping[str, Any], errors: dict[str, list[Text | str]]) -> BankInput | None:
    holder = None
    holder_raw = _text(payout.get("holder_kana"))
    if not holder_raw:
        errors["payout.holder_kana"] = [
            Text("口座名義をカタカナで入力してください。", "Enter the account holder's name in katakana.")
        ]
    else:
        try:
            holder = zengin_kana(holder_raw)
        except KanaError as exc:
            errors["payout.holder_kana"] = [str(exc)]
    if payout.get("yucho_symbol") not in (None, "") or payout.get("yucho_number") not in (None, ""):
        symbol = _digits(payout.get("yucho_symbol"), length=5)
        number = _digits(payout.get("yucho_number"), length=8)
        if symbol is None:
            errors["payout.yucho_symbol"] = [
                Text("記号は5桁の数字で入力してください。", "Enter the 5-digit symbol (記号).")
            ]
        if number is None:
            errors["payout.yucho_number"] = [
                Text("番号は8桁の数字で入力してください。", "Enter the 8-digit number (番号).")
            ]
        if symbol is None or number is None:
            return None
        try:
            account = yucho_to_account(symbol, number)
        except ValueError as exc:
            errors["payout.yucho_number"] = [str(exc)]
            return None
        bank_code, branch_code = account.bank_code, account.branch_code
        account_type, account_number = "ordinary", account.account_number
    else:
        bank_code = _digits(payout.get("bank_code"), length=4) or ""
        branch_code = _digits(payout.get("branch_code"), length=3) or ""
        account_number = _digits(payout.get("account_number"), max_length=7) or ""
        account_type = _ACCOUNT_TYPES.get(_text(payout.get("account_type")).lower(), "")
        if not bank_code:
            errors["payout.bank_code"] = [
                Text("金融機関コード（4桁）を入力してください。", "Enter the 4-digit bank code.")
            ]
        if not branch_code:
            errors["payout.branch_code"] = [
                Text("支店コード（3桁）を入力してください。", "Enter the 3-digit branch code.")
            ]
        if not account_number:
            errors["payout.account_number"] = [
                Text(
                    "口座番号（7桁までの数字）を入力してください。",
                    "Enter the account number (up to 7 digits).",
                )
            ]
        if not account_type:
            errors["payout.account_type"] = [
                Text("預金種目（普通・当座・貯蓄）を選んでください。", "Choose the account type.")
            ]
        account_number = account_number.zfill(7)
    bank = get_bank(bank_code) if bank_code else None
    branch = get_branch(bank_code, branch_code) if bank and branch_code else None
    if bank_code and bank is None:
        errors["payout.bank_code"] = [
            Text("この金融機関コードの金融機関は見つかりません。", "No bank has this code.")
        ]
    elif bank is not None and branch_code and branch is None:
        key = "payout.yucho_symbol" if "yucho_symbol" in payout else "payout.branch_code"
        errors[key] = [
            Text("この支店コードの支店は見つかりません。", "This bank has no branch with this code.")
        ]
    if bank is None or branch is None or holder is None or not account_number or not account_type:
        return None
    return BankInput(
        bank_code=bank_code,
        bank_name=str(getattr(bank, "name", "")),
        branch_code=branch_code,
        branch_name=str(getattr(branch, "name", "")),
        account_type=account_type,
        account_number=account_number,
        holder_kana=holder,
    )


def bank_details_validate(payout: Mapping[str, Any]) -> BankInput:
    """Bank details for a refund by transfer, normalised, or :class:`ApplicationInvalid` naming each
    field to correct (``payout.bank_code``, ``payout.holder_kana``, ...). The one validator for the
    site, the API and the call desk: a Japan Post Bank 記号/番号 or bank, branch, type and number,
    each bank and branch found in zengin-code, the holder converted to Zengin half-width kana."""
    errors: dict[str, list[Text | str]] = {}
    bank = _bank_input(payout, errors)
    if errors or bank is None:
        raise ApplicationInvalid(
            errors or {"payout": [Text("口座情報を確かめてください。", "Check the bank details.")]}
        )
    return bank


def application_validate(data: Mapping[str, Any]) -> ApplicationInput:
    """Every field of an application, normalised, or :class:`ApplicationInvalid` naming each
    field that a person must correct (dotted paths: ``contact.phone``, ``payout.holder_kana``)."""
    errors: dict[str, list[Text | str]] = {}
    values: dict[str, Any] = {}

    def take(key: str, parse: Any, raw: object) -> None:
        try:
            values[key] = parse(raw)
        except FieldInvalid as exc:
            errors[key] = [exc.message]

    if not isinstance(data, Mapping):
        raise ApplicationInvalid(
            {"non_field_errors": [Text("JSON のオブジェクトを送ってください。", "Send a JSON object.")]}
        )
    take("inquiry_number", normalize_inquiry, data.get("inquiry_number"))
    take("expires_on", parse_date, data.get("expires_on"))
    take("name", normalize_name, data.get("name"))
    take("name_kana", normalize_name_kana, data.get("name_kana"))
    take("prefecture_code", normalize_prefecture, data.get("prefecture_code"))
    take("travel_date", parse_date, data.get("travel_date"))
    if "travel_date" in values and "expires_on" in values and values["travel_date"] > values["expires_on"]:
        errors["travel_date"] = [
            Text(
                "旅行開始日は、クーポンの有効期限より前の日付を入力してください。",
                "The first day of the stay must not be after the coupon's expiry.",
            )
        ]

    contact = data.get("contact")
    phone = email = ""
    if not isinstance(contact, Mapping) or not (contact.get("phone") or contact.get("email")):
        errors["contact"] = [
            Text(
                "受取のご案内を送る携帯電話番号またはメールアドレスを入力してください。",
                "Enter a mobile number or an e-mail address for the receipt link.",
            )
        ]
    elif contact.get("phone") and contact.get("email"):
        errors["contact"] = [
            Text(
                "携帯電話番号かメールアドレスのどちらか一つを入力してください。",
                "Enter either a mobile number or an e-mail address, not both.",
            )
        ]
    elif contact.get("phone"):
        try:
            phone = parse_mobile(contact.get("phone"))
        except FieldInvalid as exc:
            errors["contact.phone"] = [exc.message]
    else:
        try:
            email = parse_email(contact.get("email"))
        except FieldInvalid as exc:
            errors["contact.email"] = [exc.message]

    payout = data.get("payout")
    method = payout.get("method") if isinstance(payout, Mapping) else None
    bank = None
    if method not in {"points", "bank"} or not isinstance(payout, Mapping):
        errors["payout.method"] = [
            Text(
                "受取方法（キャッシュレスポイントまたは銀行振込）を選んでください。",
                "Choose how to receive the money: points or a bank transfer.",
            )
        ]
    elif method == "bank":
        bank = _bank_input(payout, errors)
    if errors:
        raise ApplicationInvalid(errors)
    return ApplicationInput(
        inquiry_number=values["inquiry_number"],
        expires_on=values["expires_on"],
        name=values["name"],
        name_kana=values["name_kana"],
        phone=phone,
        email=email,
        prefecture_code=values["prefecture_code"],
        travel_date=values["travel_date"],
        payout_method=str(method),
        bank=bank,
    )


def request_fingerprint(data: object) -> str:
    """The same body (whatever its key order or spacing) gives the same fingerprint."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _code_hash(application_public_id: uuid.UUID, code: str) -> str:
    return salted_hmac(
        "claims.application.code", f"{application_public_id}:{code}", algorithm="sha256"
    ).hexdigest()


def _code_new() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _code_message(application: Application, code: str) -> dict[str, Any]:
    """The six-digit code's message to the application's contact, as ``message_enqueue`` and
    ``message_prepare`` take it."""
    return {
        "channel": "sms" if application.phone else "email",
        "to": application.contact,
        "template": "verification_code",
        "context": {"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)},
        "reference": str(application.public_id),
        "language": application.language,
    }


CODE_SENT = Text(
    "確認コード（6桁）をお送りしました。30分以内に入力してください。",
    "We have sent you a six-digit code. Enter it within 30 minutes.",
)


@dataclass(frozen=True)
class ApplicationCreated:
    application: Application
    response: dict[str, Any]
    replayed: bool


def _replay(*, idempotency_key: str, fingerprint: str) -> ApplicationCreated | None:
    earlier = Application.objects.filter(idempotency_key=idempotency_key).first()
    if earlier is None:
        return None
    if not hmac.compare_digest(earlier.request_fingerprint, fingerprint):
        raise IdempotencyConflict(idempotency_key)
    return ApplicationCreated(application=earlier, response=json.loads(earlier.response_body), replayed=True)


def idempotency_key_check(idempotency_key: object) -> str:
    low, high = IDEMPOTENCY_KEY_LENGTH
    if not isinstance(idempotency_key, str) or not low <= len(idempotency_key.strip()) <= high:
        raise ApplicationInvalid(
            {
                "Idempotency-Key": [
                    Text(
                        "Idempotency-Key ヘッダーに8〜255文字の値を付けてください。",
                        "Send an Idempotency-Key header of 8 to 255 characters.",
                    )
                ]
            }
        )
    return idempotency_key.strip()


def application_create(
    *, data: Mapping[str, Any], idempotency_key: object, language: str = "ja"
) -> ApplicationCreated:
    """Take an application and queue a six-digit code to its contact, in one transaction.

    The same key with the same body gives the first answer again and creates and sends nothing;
    the same key with another body is :class:`IdempotencyConflict`. The coupon must pass the
    check of §1 (``apply``), except that a bank transfer may be asked for a coupon that will be
    paid anyway (the notice's "points not wanted" application)."""
    key = idempotency_key_check(idempotency_key)
    fingerprint = request_fingerprint(data)
    # A retry is looked for only when the request cannot be taken as new (most are new): a taken
    # key makes the INSERT below fail, and a refusal asks whether this key was taken before.
    try:
        given = application_validate(data)
        check = coupon_check(inquiry_number=given.inquiry_number, expires_on=given.expires_on)
        accepted = check.outcome == Outcome.APPLY or (
            given.payout_method == Application.PayoutMethod.BANK and check.bank_transfer_allowed
        )
        if not accepted:
            raise NotApplicable(check.outcome, check.message)
    except (ApplicationInvalid, NotApplicable):
        # The coupon may read otherwise now (the first attempt's application was since
        # submitted): a retry still gets its first answer.
        replay = _replay(idempotency_key=key, fingerprint=fingerprint)
        if replay is not None:
            return replay
        raise
    assert check.incident is not None  # noqa: S101 - coupon_check always sets it
    now = clock.now()
    code = _code_new()
    public_id = uuid.uuid4()
    language = "en" if language.startswith("en") else "ja"
    # Kept on the row: a retry with the same key gets exactly this answer back.
    response = {
        "application_id": str(public_id),
        "status": Status.AWAITING_VERIFICATION.value,
        "code_sent_to": mask_contact(phone=given.phone, email=given.email),
        "message": CODE_SENT.en if language == "en" else CODE_SENT.ja,
    }
    application = Application(
        public_id=public_id,
        incident=check.incident,
        coupon_id=given.inquiry_number,
        name=given.name,
        name_kana=given.name_kana,
        phone=given.phone,
        email=given.email,
        prefecture_code=given.prefecture_code,
        travel_date=given.travel_date,
        payout_method=given.payout_method,
        language=language,
        code_hash=_code_hash(public_id, code),
        code_sent_at=now,
        idempotency_key=key,
        request_fingerprint=fingerprint,
        response_body=json.dumps(response, ensure_ascii=False),
        created_at=now,
        updated_at=now,
    )
    rows = [
        NewRow("application", application),
        NewRow(
            "application_status",
            ApplicationStatusChange(from_status="", to_status=application.status, note="申請", at=now),
            parents={"application_id": "application"},
        ),
    ]
    if given.bank is not None:
        bank = BankAccount(coupon_id=given.inquiry_number, created_at=now, **given.bank.__dict__)
        rows.append(NewRow("bank_account", bank, parents={"application_id": "application"}))
    message = message_prepare(**_code_message(application, code))
    rows += message_rows(message)
    try:
        # One statement: outside a transaction it commits by itself (the code goes out once it
        # has); inside the caller's, a savepoint keeps that transaction usable when the key
        # turns out to be taken.
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            insert_rows(rows)
    except IntegrityError:
        # The key was taken: by an earlier attempt, or by a concurrent request that committed
        # first (its INSERT held ours back).
        replay = _replay(idempotency_key=key, fingerprint=fingerprint)
        if replay is None:
            raise
        return replay
    message_send_on_commit(message)
    return ApplicationCreated(application=application, response=response, replayed=False)


# --- 3. Prove the contact -----------------------------------------------------------------------


def _locked(application_id: object) -> Application:
    try:
        public_id = uuid.UUID(str(application_id))
    except ValueError:
        raise ApplicationNotFound(str(application_id)) from None
    application = Application.objects.select_for_update().filter(public_id=public_id).first()
    if application is None:
        raise ApplicationNotFound(str(application_id))
    return application


def _move(application: Application, *, to: str, actor: User | None, note: str, now: dt.datetime) -> None:
    if to not in TRANSITIONS.get(application.status, set()):
        current, wanted = application.get_status_display(), Status(to).label
        raise TransitionError(f"{application}: 「{current}」から「{wanted}」には変更できません")
    ApplicationStatusChange.objects.create(
        application=application, from_status=application.status, to_status=to, actor=actor, note=note, at=now
    )
    application.status = to
    application.updated_at = now


def application_void(*, application: Application, actor: User | None, note: str, now: dt.datetime) -> None:
    """awaiting_verification → void (the caller holds the row's lock, inside its transaction)."""
    _move(application, to=Status.VOID, actor=actor, note=note, now=now)
    application.save(update_fields=["status", "updated_at", "code_attempts"])


def _code_expired(application: Application, now: dt.datetime) -> bool:
    return now - application.code_sent_at > CODE_LIFETIME


def application_verify(*, application_id: object, code: object) -> Application:
    """The six-digit code proves the contact: the application is submitted, gets its reference
    number and a confirmation goes to the same contact. Five tries, 30 minutes (portal clock);
    the fifth wrong code or a late one voids the application (:class:`ApplicationVoid`)."""
    try:
        typed = normalize_code(code)
    except FieldInvalid as exc:
        raise ApplicationInvalid({"code": [exc.message]}) from None
    outcome: Exception | None = None
    with transaction.atomic():
        application = _locked(application_id)
        now = clock.now()
        right = hmac.compare_digest(application.code_hash, _code_hash(application.public_id, typed))
        if application.status == Status.SUBMITTED:
            if right:  # the confirmation page reloaded, the button pressed twice
                return application
            raise WrongCode(attempts_left=max(CODE_TRIES - application.code_attempts, 0))
        if application.status == Status.VOID:
            raise ApplicationVoid(str(application.public_id))
        if _code_expired(application, now):
            application_void(application=application, actor=None, note="確認コードの期限切れ", now=now)
            outcome = ApplicationVoid(str(application.public_id))
        elif not right:
            application.code_attempts += 1
            if application.code_attempts >= CODE_TRIES:
                application_void(application=application, actor=None, note="確認コードの誤入力が5回", now=now)
                outcome = ApplicationVoid(str(application.public_id))
            else:
                application.updated_at = now
                application.save(update_fields=["code_attempts", "updated_at"])
                outcome = WrongCode(attempts_left=CODE_TRIES - application.code_attempts)
        else:
            submitted = _submit(application, now=now)
            if submitted is not None:
                outcome = submitted
    if outcome is not None:
        raise outcome
    return application


def _submit(application: Application, *, now: dt.datetime) -> Exception | None:
    if Application.objects.filter(coupon_id=application.coupon_id, status=Status.SUBMITTED).exists():
        return NotApplicable(Outcome.ALREADY_APPLIED, outcome_message(Outcome.ALREADY_APPLIED))
    _move(application, to=Status.SUBMITTED, actor=None, note="確認コードで連絡先を確認", now=now)
    application.submitted_at = now
    for _ in range(5):
        application.reference_number = reference_number_new()
        try:
            with transaction.atomic():
                application.save(update_fields=["status", "updated_at", "submitted_at", "reference_number"])
            break
        except IntegrityError:
            # Another application of the same coupon was submitted at the same instant (the
            # partial unique constraint), or — once in 2**44 — the reference number was taken.
            if Application.objects.filter(coupon_id=application.coupon_id, status=Status.SUBMITTED).exists():
                transaction.set_rollback(True)
                return NotApplicable(Outcome.ALREADY_APPLIED, outcome_message(Outcome.ALREADY_APPLIED))
    else:  # pragma: no cover - five collisions of 44 random bits
        raise RuntimeError("could not draw a free reference number")
    message_enqueue(
        channel="sms" if application.phone else "email",
        to=application.contact,
        template="application_confirmation",
        context={
            "reference_number": reference_number_display(application.reference_number or ""),
            "site_url": settings.PUBLIC_SITE_URL,
        },
        reference=reference_number_display(application.reference_number or ""),
        language=application.language,
    )
    return None


def application_resend_code(*, application_id: object) -> Application:
    """A new code to the same contact, at most once a minute (portal clock); the old code stops
    working and the 30 minutes start again. The tries already spent stay spent."""
    outcome: Exception | None = None
    with transaction.atomic():
        application = _locked(application_id)
        now = clock.now()
        if application.status == Status.SUBMITTED:
            raise NotApplicable(Outcome.ALREADY_APPLIED, outcome_message(Outcome.ALREADY_APPLIED))
        if application.status != Status.AWAITING_VERIFICATION:
            raise ApplicationVoid(str(application.public_id))
        if _code_expired(application, now):
            application_void(application=application, actor=None, note="確認コードの期限切れ", now=now)
            outcome = ApplicationVoid(str(application.public_id))
        elif now - application.code_sent_at < RESEND_INTERVAL:
            wait = RESEND_INTERVAL - (now - application.code_sent_at)
            raise ResendTooSoon(retry_after_seconds=max(1, int(-(-wait.total_seconds() // 1))))
        else:
            code = _code_new()
            application.code_hash = _code_hash(application.public_id, code)
            application.code_sent_at = now
            application.updated_at = now
            application.save(update_fields=["code_hash", "code_sent_at", "updated_at"])
            message_enqueue(**_code_message(application, code))
    if outcome is not None:
        raise outcome
    return application


# --- 4. Look up a claim ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusAnswer:
    status: str
    label: Text
    next_date: dt.date | None
    next_what: Text


def _contact_forms(raw: object) -> list[str]:
    """Every stored form the typed contact could match (E.164 for phones, e-mail as stored)."""
    try:
        text = _text(raw)
    except FieldInvalid:
        return []
    forms = []
    if "@" in text:
        with contextlib.suppress(FieldInvalid):
            forms.append(parse_email(text))
    else:
        with contextlib.suppress(FieldInvalid):
            forms.append(phone_e164(parse_phone(text)))
    return forms


_DUMMY_CONTACT = "+810000000000"


def _status_answer(application: Application) -> StatusAnswer:
    incident = application.incident
    deadline = incident.receipt_deadline
    if application.payout_method == Application.PayoutMethod.BANK:
        transfers = _day(incident.transfers_from)
        what = Text(
            f"申請を受け付けました。内容を確認のうえ、{transfers.ja}以降にご指定の口座へお振り込みします。",
            "Your application has been received. After checking it, we will transfer the money to "
            f"your account from {transfers.en}.",
        )
        return StatusAnswer(
            application.status, Text("受付済み（銀行振込）", "Received (bank transfer)"), None, what
        )
    links, until = _day(incident.links_from), _day(deadline)
    what = Text(
        f"申請を受け付けました。{links.ja}から、ご登録の連絡先へ受取サイトのURLをお送りします。"
        f"受取期限は{until.ja}です。",
        f"Your application has been received. From {links.en} we will send the link to the "
        f"receipt site to your contact. Receive your points by {until.en}.",
    )
    return StatusAnswer(
        application.status, Text("受付済み（ポイント）", "Received (gift points)"), deadline, what
    )


def application_status_lookup(*, reference_number: object, contact: object) -> StatusAnswer | None:
    """Where a submitted application stands, for the one who knows its reference number AND the
    contact it was given with; None for every failure. Both failure paths do the same work — one
    indexed query and one constant-time comparison — so neither the answer nor its time tells an
    unknown reference from a wrong contact."""
    reference = normalize_reference(reference_number) or "!"  # "!" is never a reference: same query
    forms = _contact_forms(contact) or [""]
    # Only plain text comes back, found or not: building a model instance (and its incident) for
    # a known reference alone was a measurable half millisecond, and the phone read through its
    # field is parsed again (phonenumber_field's from_db_value, ~0.2 ms) — work only a known
    # reference would do. The stored phone is already E.164 text, the form compared below.
    row = (
        Application.objects.filter(reference_number=reference, status=Status.SUBMITTED)
        .values_list("pk", Cast("phone", output_field=TextField()), "email")
        .first()
    )
    stored = (row[1] or row[2]) if row is not None else _DUMMY_CONTACT
    matched = False
    for form in forms:
        matched |= hmac.compare_digest(
            hashlib.sha256(stored.encode()).digest(), hashlib.sha256(form.encode()).digest()
        )
    if row is None or not matched:
        return None
    return _status_answer(Application.objects.select_related("incident").get(pk=row[0]))


# --- Staff dashboard ----------------------------------------------------------------------------


def application_counts_by_day(*, incident: Incident | None, days: int = 31) -> dict[str, Any]:
    """Applications per day (Japan time) and state, newest day first, for the staff dashboard."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    rows = (
        Application.objects.filter(incident=incident)
        .annotate(day=TruncDate("created_at", tzinfo=JST))
        .values("day", "status")
        .annotate(count=Count("id"))
        .order_by("-day", "status")
    )
    statuses = [value for value, _ in Status.choices]
    by_day: dict[dt.date, dict[str, int]] = {}
    totals = dict.fromkeys(statuses, 0)
    for row in rows:
        by_day.setdefault(row["day"], dict.fromkeys(statuses, 0))[row["status"]] = row["count"]
        totals[row["status"]] += row["count"]
    return {
        "statuses": [(value, label) for value, label in Status.choices],
        "days": [
            {"day": day, "counts": [counts[s] for s in statuses], "total": sum(counts.values())}
            for day, counts in list(by_day.items())[:days]
        ],
        "totals": [totals[s] for s in statuses],
        "total": sum(totals.values()),
    }
