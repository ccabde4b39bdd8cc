"""The desk's forms: parse what the agent typed (any width, any shape) and hand it to services."""

from __future__ import annotations

import unicodedata

from django import forms
from localflavor.jp.jp_prefectures import JP_PREFECTURE_CODES
from phonenumber_field.formfields import PhoneNumberField

from claims.models import Entitlement

DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"]


class WideDateField(forms.DateField):
    """2023/02/26, 2023-02-26, 2023年2月26日, full-width digits too."""

    def to_python(self, value):
        if isinstance(value, str):
            value = unicodedata.normalize("NFKC", value).strip()
        return super().to_python(value)


class CaseForm(forms.Form):
    caller_name = forms.CharField(label="お名前", max_length=100, required=False)
    callback_number = PhoneNumberField(
        label="折り返し電話番号",
        region="JP",
        required=False,
        error_messages={"invalid": "電話番号の形が正しくありません（例 090-1234-5678）"},
    )
    inquiry_number = forms.CharField(label="お問合せ番号", max_length=64, required=False)
    expires_on = WideDateField(
        label="有効期限", required=False, input_formats=DATE_FORMATS, help_text="例 2023/02/26"
    )
    prefecture_code = forms.ChoiceField(
        label="旅行先の都道府県", choices=[("", "（未聴取）"), *JP_PREFECTURE_CODES], required=False
    )
    store_text = forms.CharField(
        label="利用店舗", max_length=200, required=False, help_text="店名の一部・かな・半角でも探せます"
    )
    store_id = forms.CharField(required=False, widget=forms.HiddenInput)
    group = forms.ChoiceField(
        label="区分", choices=[("", "（未定）"), *Entitlement.Category.choices], required=False
    )
    notes = forms.CharField(label="メモ", widget=forms.Textarea(attrs={"rows": 3}), required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(label="対象外とする理由", widget=forms.Textarea(attrs={"rows": 2}))


class OtherForm(forms.Form):
    description = forms.CharField(label="何があったか", widget=forms.Textarea(attrs={"rows": 3}))
    amount_yen = forms.IntegerField(label="補償額（円）", min_value=1)

    def clean_amount_yen(self):
        return self.cleaned_data["amount_yen"]

    def __init__(self, *args, **kwargs):
        data = kwargs.get("data") or (args[0] if args else None)
        if data is not None and "amount_yen" in data:
            data = data.copy()
            data["amount_yen"] = unicodedata.normalize("NFKC", data["amount_yen"]).replace(",", "").strip()
            if args:
                args = (data, *args[1:])
            else:
                kwargs["data"] = data
        super().__init__(*args, **kwargs)


class ReasonForm(forms.Form):
    reason = forms.CharField(label="理由", widget=forms.Textarea(attrs={"rows": 2}))


class BankForm(forms.Form):
    """Bank details read out by the caller. Only shape here: the rules (codes in zengin-code, Japan
    Post Bank 記号/番号, Zengin kana) are the site's own validator, run by the service."""

    FIELDS = ("bank_code", "branch_code", "account_type", "account_number", "yucho_symbol", "yucho_number")

    bank_code = forms.CharField(label="金融機関コード", max_length=8, required=False, help_text="4桁")
    branch_code = forms.CharField(label="支店コード", max_length=8, required=False, help_text="3桁")
    account_type = forms.ChoiceField(
        label="預金種目",
        choices=[("", "（選択）"), ("ordinary", "普通"), ("current", "当座"), ("savings", "貯蓄")],
        required=False,
    )
    account_number = forms.CharField(label="口座番号", max_length=16, required=False, help_text="7桁まで")
    yucho_symbol = forms.CharField(
        label="ゆうちょ 記号", max_length=16, required=False, help_text="ゆうちょ銀行のときだけ（5桁）"
    )
    yucho_number = forms.CharField(
        label="ゆうちょ 番号", max_length=16, required=False, help_text="ゆうちょ銀行のときだけ（8桁）"
    )
    holder_kana = forms.CharField(label="口座名義（カナ）", max_length=100, required=False)

    def details(self) -> dict[str, str]:
        """What the service validates: only the fields the agent filled in (an empty ゆうちょ
        field must not turn the check into a Japan Post Bank one)."""
        data = self.cleaned_data
        details = {key: data[key] for key in self.FIELDS if data.get(key)}
        details["holder_kana"] = data.get("holder_kana", "")
        return details
