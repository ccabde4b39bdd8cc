"""Staff admin of the payouts room: the portal's own account for the Zengin header."""

from __future__ import annotations

import unicodedata

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from claims.banking.banks import get_bank, get_branch
from claims.banking.kana import KanaError, zengin_kana
from payouts.models import RequesterAccount


class RequesterAccountForm(forms.ModelForm):
    """Checks what the bank will read: Zengin kana, a bank and branch that exist, digits."""

    # Wider than the columns: what people type (full-width digits, spaces) is normalised first,
    # and a value too long gets the sentence below rather than a character count.
    requester_code = forms.CharField(label="依頼人コード", max_length=30)
    requester_name = forms.CharField(label="依頼人名", max_length=80)
    bank_code = forms.CharField(label="銀行コード", max_length=30)
    branch_code = forms.CharField(label="支店コード", max_length=30)
    account_number = forms.CharField(label="口座番号", max_length=30)

    class Meta:
        model = RequesterAccount
        fields = [
            "requester_code",
            "requester_name",
            "bank_code",
            "branch_code",
            "account_type",
            "account_number",
        ]

    def _digits(self, field: str, width: int, *, exact: bool) -> str:
        value = unicodedata.normalize("NFKC", self.cleaned_data[field]).strip()
        if not (value.isascii() and value.isdigit()) or len(value) > width or (exact and len(value) != width):
            size = f"{width}桁の" if exact else f"{width}桁までの"
            raise forms.ValidationError(f"{size}数字で入力してください。")
        return value

    def clean_requester_code(self) -> str:
        return self._digits("requester_code", 10, exact=False)

    def clean_bank_code(self) -> str:
        return self._digits("bank_code", 4, exact=True)

    def clean_branch_code(self) -> str:
        return self._digits("branch_code", 3, exact=True)

    def clean_account_number(self) -> str:
        # Account numbers are 7 digits; a shorter one is written with leading zeros.
        return self._digits("account_number", 7, exact=False).zfill(7)

    def clean_requester_name(self) -> str:
        try:
            name = zengin_kana(self.cleaned_data["requester_name"])
        except KanaError as error:
            raise forms.ValidationError(str(error).replace("口座名義", "依頼人名")) from error
        if len(name.encode("shift_jis")) > 40:
            raise forms.ValidationError(f"依頼人名は全銀カナで40バイトまでです（{len(name)}バイト）。")
        return name

    def clean(self) -> dict:
        data = super().clean()
        bank, branch = data.get("bank_code"), data.get("branch_code")
        if bank and get_bank(bank) is None:
            self.add_error("bank_code", "この銀行コードの銀行はありません。")
        elif bank and branch and get_branch(bank, branch) is None:
            self.add_error("branch_code", "この銀行にこの支店コードの支店はありません。")
        return data


@admin.register(RequesterAccount)
class RequesterAccountAdmin(SimpleHistoryAdmin):
    form = RequesterAccountForm
    list_display = ["incident", "requester_code", "requester_name", "bank_code", "branch_code"]
    readonly_fields = ["bank_and_branch"]
    fields = [
        "requester_code",
        "requester_name",
        "bank_code",
        "branch_code",
        "bank_and_branch",
        "account_type",
        "account_number",
    ]

    @admin.display(description="銀行・支店（全銀コードから）")
    def bank_and_branch(self, obj: RequesterAccount) -> str:
        bank, branch = get_bank(obj.bank_code), get_branch(obj.bank_code, obj.branch_code)
        if bank is None or branch is None:
            return "（コードが見つかりません）"
        return f"{bank.name} {branch.name}（{bank.zengin_name} {branch.zengin_name}）"

    def has_add_permission(self, request) -> bool:
        return False  # one row per incident, made by the data migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # corrected, never removed: the history explains every file

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple_history's version page saves a POST with only the view permission checked: the
        # account changes through the change form (change permission, history kept), nowhere else.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
