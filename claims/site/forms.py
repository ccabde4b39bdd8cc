"""The application wizard's pages, one question (or one small group) each.

These forms only parse what a person types (full-width digits, hyphens, dates as 2023/2/24); the
rules — is this coupon covered, is this a mobile number, is the name convertible to Zengin kana,
does the bank exist — are the services' and the banking module's, the same ones the API uses.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _
from localflavor.jp.jp_prefectures import JP_PREFECTURE_CODES

from claims.services import applications as rules


def nfkc(value: str | None) -> str:
    """Full-width digits and letters to their plain forms, outer spaces removed."""
    return unicodedata.normalize("NFKC", value or "").strip()


def by_rule(normalise: Callable[[Any], Any], value: Any) -> Any:
    """Apply the services' own normaliser (the API's too); its sentence becomes the field's error."""
    try:
        return normalise(value)
    except rules.FieldInvalid as exc:
        raise forms.ValidationError(str(exc.message)) from None


class SiteDateField(forms.CharField):
    """A date typed the ways people type it (2023/2/24, 2023-02-24, 2023年2月24日, full-width):
    parsed by the services' ``parse_date``, kept as a date."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return by_rule(rules.parse_date, value)

    def prepare_value(self, value):
        if hasattr(value, "strftime"):
            return value.strftime("%Y/%m/%d")
        return value


def text_input(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"spellcheck": "false", **attrs})


METHOD_CHOICES: list[tuple[str, Any]] = [
    (
        "points",
        _("キャッシュレスポイント（Amazonギフトカード、Pontaポイント、PayPayポイントなどから選べます）"),
    ),
    ("bank", _("銀行振込（ゆうちょ銀行以外の銀行・信用金庫など）")),
    ("yucho", _("ゆうちょ銀行への振込")),
]
ACCOUNT_TYPES: list[tuple[str, Any]] = [
    ("ordinary", _("普通")),
    ("current", _("当座")),
    ("savings", _("貯蓄")),
]
PREFECTURES: list[tuple[str, Any]] = [("", _("選んでください")), *JP_PREFECTURE_CODES]


class CouponForm(forms.Form):
    inquiry_number = forms.CharField(
        label=_("お問合せ番号"),
        help_text=_("紙クーポンに印刷されている番号です。ハイフンや空白は入れても入れなくてもかまいません。"),
        max_length=40,
        widget=text_input(autocomplete="off", autocapitalize="characters"),
        error_messages={"required": _("お問合せ番号を入力してください")},
    )
    expires_on = SiteDateField(
        label=_("クーポンの有効期限（延長される前の日付）"),
        help_text=_("紙クーポンに印刷されている日付です。例：2023/2/24"),
        widget=text_input(autocomplete="off", inputmode="text"),
        error_messages={
            "required": _("有効期限を入力してください"),
            "invalid": _("有効期限は 2023/2/24 のように年・月・日で入力してください"),
        },
    )

    def clean_inquiry_number(self) -> str:
        return by_rule(rules.normalize_inquiry, self.cleaned_data["inquiry_number"])


class ResultForm(forms.Form):
    """The coupon check's answer. Only "apply" (and "no application needed", for a bank transfer
    instead of points) lead on; every other answer is a page of its own with no way forward."""

    def __init__(self, *args, continues: bool = False, **kwargs) -> None:
        self.continues = continues
        super().__init__(*args, **kwargs)

    def clean(self):
        if not self.continues:
            raise forms.ValidationError(_("このクーポンでは申請を続けられません。"), code="outcome")
        return super().clean()


class NameForm(forms.Form):
    name = forms.CharField(
        label=_("お名前"),
        help_text=_("例：千葉 花子"),
        max_length=100,
        widget=text_input(autocomplete="name"),
        error_messages={"required": _("お名前を入力してください")},
    )
    name_kana = forms.CharField(
        label=_("お名前（フリガナ）"),
        help_text=_("カタカナかひらがなで入力してください。例：チバ ハナコ"),
        max_length=100,
        widget=text_input(autocomplete="off"),
        error_messages={"required": _("お名前のフリガナを入力してください")},
    )

    def clean_name(self) -> str:
        return by_rule(rules.normalize_name, self.cleaned_data["name"])

    def clean_name_kana(self) -> str:
        return by_rule(rules.normalize_name_kana, self.cleaned_data["name_kana"])


class ContactForm(forms.Form):
    CHANNELS = [("sms", _("携帯電話（SMS）")), ("email", _("メール"))]
    channel = forms.ChoiceField(
        label=_("確認コードと受取のご案内の送り先"),
        help_text=_("6桁の確認コードをすぐにお送りします。受け取れる送り先を選んでください。"),
        choices=CHANNELS,
        widget=forms.RadioSelect,
        error_messages={"required": _("送り先を選んでください")},
    )
    phone = forms.CharField(
        label=_("携帯電話番号"),
        help_text=_("060・070・080・090 で始まる番号。例：090-1234-5678"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "tel-national", "inputmode": "tel", "type": "tel"}),
    )
    email = forms.CharField(
        label=_("メールアドレス"),
        help_text=_("例：hanako@example.jp"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )

    def clean(self):
        data = super().clean()
        channel = data.get("channel")
        if channel == "sms":
            try:
                data["phone"] = by_rule(rules.parse_mobile, data.get("phone"))
            except forms.ValidationError as exc:
                self.add_error("phone", exc)
            data["email"] = ""
        elif channel == "email":
            try:
                data["email"] = by_rule(rules.parse_email, data.get("email"))
            except forms.ValidationError as exc:
                self.add_error("email", exc)
            data["phone"] = ""
        return data


class TripForm(forms.Form):
    prefecture_code = forms.ChoiceField(
        label=_("クーポンを利用した都道府県"),
        choices=PREFECTURES,
        initial="12",
        error_messages={"required": _("利用した都道府県を選んでください")},
    )
    travel_date = SiteDateField(
        label=_("旅行の開始日"),
        help_text=_("宿泊した場合はチェックインの日です。例：2023/2/24"),
        widget=text_input(autocomplete="off"),
        error_messages={
            "required": _("旅行の開始日を入力してください"),
            "invalid": _("旅行の開始日は 2023/2/24 のように年・月・日で入力してください"),
        },
    )


class PayoutForm(forms.Form):
    POINTS, BANK, YUCHO = "points", "bank", "yucho"
    method = forms.ChoiceField(
        label=_("補償の受け取り方"),
        choices=METHOD_CHOICES,
        widget=forms.RadioSelect,
        error_messages={"required": _("受け取り方を選んでください")},
    )

    def __init__(self, *args, bank_only: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if bank_only:  # the app route pays points anyway: this application is for a transfer instead
            field = cast(forms.ChoiceField, self.fields["method"])
            field.choices = [c for c in METHOD_CHOICES if c[0] != self.POINTS]
            field.label = _("振込先の種類")


class SearchChoiceForm(forms.Form):
    """Search, then choose — works without JavaScript: the search button re-shows the page with
    the matches as radio buttons."""

    query = forms.CharField(required=False, max_length=40, widget=text_input(autocomplete="off"))
    code = forms.CharField(required=True, widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        query = nfkc(self.data.get(self.add_prefix("query")) if self.is_bound else self.initial.get("query"))
        chosen = nfkc(self.data.get(self.add_prefix("code")) if self.is_bound else self.initial.get("code"))
        self.query_text = query
        self.matches = self.search(query) if query else []
        choices = [(code, label) for code, label in self.matches]
        if chosen and chosen not in {c for c, _label in choices}:
            label = self.label_for(chosen)
            if label:
                choices.insert(0, (chosen, label))
        self.fields["code"].widget.choices = choices

    def search(self, query: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def label_for(self, code: str) -> str | None:
        raise NotImplementedError


class BankForm(SearchChoiceForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["query"].label = _("金融機関を名前・フリガナ・コードで探す")
        self.fields["query"].help_text = _("例：みずほ、ミズホ、0001")
        self.fields["code"].label = _("金融機関")
        self.fields["code"].error_messages["required"] = _("金融機関を探して選んでください")

    def search(self, query: str) -> list[tuple[str, str]]:
        from claims.banking.banks import search_banks

        return [(b.code, f"{b.name}（{b.code}）") for b in search_banks(query, limit=20) if b.code != "9900"]

    def label_for(self, code: str) -> str | None:
        from claims.banking.banks import get_bank

        bank = get_bank(code)
        return f"{bank.name}（{bank.code}）" if bank else None

    def clean_code(self) -> str:
        from claims.banking.banks import get_bank

        code = nfkc(self.cleaned_data["code"])
        if get_bank(code) is None:
            raise forms.ValidationError(_("金融機関を探して選んでください"))
        return code


class BranchForm(SearchChoiceForm):
    def __init__(self, *args, bank_code: str = "", **kwargs) -> None:
        self.bank_code = bank_code
        super().__init__(*args, **kwargs)
        self.fields["query"].label = _("支店を名前・フリガナ・コードで探す")
        self.fields["query"].help_text = _("例：東京営業部、トウキヨウ、001")
        self.fields["code"].label = _("支店")
        self.fields["code"].error_messages["required"] = _("支店を探して選んでください")

    def search(self, query: str) -> list[tuple[str, str]]:
        from claims.banking.banks import search_branches

        return [(b.code, f"{b.name}（{b.code}）") for b in search_branches(self.bank_code, query, limit=20)]

    def label_for(self, code: str) -> str | None:
        from claims.banking.banks import get_branch

        branch = get_branch(self.bank_code, code)
        return f"{branch.name}（{branch.code}）" if branch else None

    def clean_code(self) -> str:
        from claims.banking.banks import get_branch

        code = nfkc(self.cleaned_data["code"])
        if get_branch(self.bank_code, code) is None:
            raise forms.ValidationError(_("支店を探して選んでください"))
        return code


def _holder_kana(value: str) -> str:
    from claims.banking.kana import KanaError, zengin_kana

    try:
        return zengin_kana(value)
    except KanaError as exc:
        raise forms.ValidationError(str(exc)) from exc


HOLDER_HELP = _("通帳やキャッシュカードに書かれているとおり、カタカナで入力してください。例：チバ ハナコ")


class AccountForm(forms.Form):
    account_type = forms.ChoiceField(
        label=_("口座の種類"),
        choices=ACCOUNT_TYPES,
        widget=forms.RadioSelect,
        error_messages={"required": _("口座の種類を選んでください")},
    )
    account_number = forms.CharField(
        label=_("口座番号"),
        help_text=_("7桁の数字。7桁より短い場合は、そのまま入力してください"),
        max_length=12,
        widget=text_input(inputmode="numeric", autocomplete="off"),
        error_messages={"required": _("口座番号を入力してください")},
    )
    holder_kana = forms.CharField(
        label=_("口座名義（カナ）"),
        help_text=HOLDER_HELP,
        max_length=60,
        widget=text_input(autocomplete="off"),
        error_messages={"required": _("口座名義を入力してください")},
    )

    def clean_account_number(self) -> str:
        digits = nfkc(self.cleaned_data["account_number"]).replace("-", "").replace(" ", "")
        if not digits.isdigit() or not 1 <= len(digits) <= 7:
            raise forms.ValidationError(_("口座番号は7桁までの数字で入力してください"))
        return digits.zfill(7)

    def clean_holder_kana(self) -> str:
        return _holder_kana(self.cleaned_data["holder_kana"])


class YuchoForm(forms.Form):
    yucho_symbol = forms.CharField(
        label=_("記号（5桁）"),
        help_text=_("通帳の表紙や見開きに書かれている、1 で始まる5桁の数字です。例：14030"),
        max_length=10,
        widget=text_input(inputmode="numeric", autocomplete="off"),
        error_messages={"required": _("記号を入力してください")},
    )
    yucho_number = forms.CharField(
        label=_("番号（8桁）"),
        help_text=_("記号の後ろの、最大8桁の数字です。例：12345671"),
        max_length=12,
        widget=text_input(inputmode="numeric", autocomplete="off"),
        error_messages={"required": _("番号を入力してください")},
    )
    holder_kana = forms.CharField(
        label=_("口座名義（カナ）"),
        help_text=HOLDER_HELP,
        max_length=60,
        widget=text_input(autocomplete="off"),
        error_messages={"required": _("口座名義を入力してください")},
    )

    def clean(self):
        from claims.banking.yucho import yucho_to_account

        data = super().clean()
        symbol, number = nfkc(data.get("yucho_symbol")), nfkc(data.get("yucho_number"))
        if symbol and number:
            try:
                yucho_to_account(symbol, number)
            except ValueError as exc:
                self.add_error("yucho_number", str(exc))
        data["yucho_symbol"], data["yucho_number"] = symbol, number
        return data

    def clean_holder_kana(self) -> str:
        return _holder_kana(self.cleaned_data["holder_kana"])


class ConfirmForm(forms.Form):
    """Check your answers: nothing to type, the button sends the code."""


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("確認コード（6桁）"),
        max_length=12,
        widget=text_input(inputmode="numeric", autocomplete="one-time-code"),
        error_messages={"required": _("確認コードを入力してください")},
    )

    def clean_code(self) -> str:
        code = nfkc(self.cleaned_data["code"]).replace(" ", "").replace("-", "")
        if not (code.isdigit() and len(code) == 6):
            raise forms.ValidationError(_("確認コードは6桁の数字で入力してください"))
        return code


class StatusLookupForm(forms.Form):
    reference_number = forms.CharField(
        label=_("受付番号"),
        help_text=_("申請の完了画面と、完了のお知らせ（SMS・メール）に書かれています"),
        max_length=40,
        widget=text_input(autocomplete="off", autocapitalize="characters"),
        error_messages={"required": _("受付番号を入力してください")},
    )
    contact = forms.CharField(
        label=_("申請のときに入力した携帯電話番号またはメールアドレス"),
        max_length=254,
        widget=text_input(autocomplete="off"),
        error_messages={"required": _("携帯電話番号またはメールアドレスを入力してください")},
    )

    def clean_reference_number(self) -> str:
        return nfkc(self.cleaned_data["reference_number"])

    def clean_contact(self) -> str:
        return nfkc(self.cleaned_data["contact"])
