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
