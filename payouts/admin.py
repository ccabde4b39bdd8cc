"""Staff admin of the payouts room: the portal's own account for the Zengin header, transfer batches."""

from __future__ import annotations

import shutil
import tempfile
import unicodedata
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

import payouts.admin_payouts  # noqa: F401  (registers the payouts' own admin)
from claims.banking.banks import get_bank, get_branch
from claims.banking.kana import KanaError, zengin_kana
from claims.models import Incident
from payouts.models import Payout, Reminder, RequesterAccount, TransferBatch, TransferLine
from payouts.services.batches import (
    BatchAlreadyDecided,
    BatchError,
    BatchPermissionDenied,
    batch_approve,
    batch_cancel,
    batch_create,
    batch_export_zengin,
    batch_totals_by_bank,
)
from payouts.services.returns import ReturnsFileError, transfer_return_by_hand, transfer_returns_import
from payouts.zengin import ZenginError
from staff.roles import Role, has_role


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


# --- transfer batches ----------------------------------------------------------------------------


class TransferBatchAdmin(admin.ModelAdmin):
    """The batches: list, preview with totals per bank, approve (maker-checker in the service),
    cancel a draft, download the Zengin file; make a batch and upload returns from the list."""

    list_display = [
        "__str__",
        "status",
        "transfer_date",
        "count_shown",
        "total_shown",
        "created_by",
        "approved_by",
    ]
    list_filter = ["status"]
    ordering = ["-created_at", "-pk"]
    change_list_template = "admin/payouts/transferbatch/change_list.html"

    @admin.display(description="件数", ordering="count")
    def count_shown(self, obj: TransferBatch) -> str:
        return f"{obj.count:,}"

    @admin.display(description="合計金額", ordering="total_yen")
    def total_shown(self, obj: TransferBatch) -> str:
        return f"{obj.total_yen:,} 円"

    def has_add_permission(self, request) -> bool:
        return False  # made by the service (the list's button or create_transfer_batch)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # moves only through the services; the page is a preview

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("create/", view(self.create_view), name="payouts_transferbatch_create"),
            path("returns/", view(self.returns_view), name="payouts_transferbatch_returns"),
            path("<int:pk>/approve/", view(self.approve_view), name="payouts_transferbatch_approve"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="payouts_transferbatch_cancel"),
            path("<int:pk>/zengin/", view(self.zengin_view), name="payouts_transferbatch_zengin"),
            path("<int:pk>/return/", view(self.return_view), name="payouts_transferbatch_return"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_create": has_role(request.user, Role.OPERATIONS),
            "ready": Payout.objects.filter(method="bank", status="ready").aggregate(
                count=Count("id"), total=Sum("amount_yen")
            ),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET":
            raise PermissionDenied  # the page only reads; every move has its own view and service
        batch = TransferBatch.objects.select_related("created_by", "approved_by").filter(pk=object_id).first()
        if batch is None:
            messages.warning(request, f"振込バッチ #{object_id} はありません。")
            return self._back()
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        user = request.user
        context = {
            **self.admin_site.each_context(request),
            "title": f"{batch}（{batch.get_status_display()}）",
            "opts": self.model._meta,
            "batch": batch,
            "by_bank": batch_totals_by_bank(batch),
            "requester": batch.requester,
            "returned": batch.lines.filter(outcome=TransferLine.Outcome.RETURNED).count(),
            "is_draft": batch.status == TransferBatch.Status.DRAFT,
            "can_approve": batch.status == TransferBatch.Status.DRAFT
            and has_role(user, Role.APPROVER)
            and batch.created_by_id != user.pk,
            "own_batch": batch.created_by_id == user.pk,
            "can_cancel": batch.status == TransferBatch.Status.DRAFT
            and (has_role(user, Role.OPERATIONS) or has_role(user, Role.APPROVER)),
            "can_export": batch.status in (TransferBatch.Status.APPROVED, TransferBatch.Status.EXPORTED),
            "can_return": batch.status == TransferBatch.Status.EXPORTED and has_role(user, Role.OPERATIONS),
        }
        return TemplateResponse(request, "admin/payouts/transferbatch/preview.html", context)

    def _back(self, pk: int | None = None):
        if pk is None:
            return redirect(reverse("admin:payouts_transferbatch_changelist"))
        return redirect(reverse("admin:payouts_transferbatch_change", args=[pk]))

    def create_view(self, request: HttpRequest):
        if request.method != "POST":
            raise PermissionDenied
        incidents = Incident.objects.all()
        if incidents.count() != 1:
            messages.error(
                request, "障害が1件ではないため、コマンドで --incident を指定して作成してください。"
            )
            return self._back()
        try:
            created = batch_create(incident=incidents.get(), by=request.user)
        except BatchPermissionDenied as refused:
            raise PermissionDenied(str(refused)) from None
        except BatchError as refused:
            messages.error(request, str(refused))
            return self._back()
        batch = created.batch
        messages.success(
            request,
            f"{batch} を作成しました（{batch.count:,} 件・{batch.total_yen:,} 円）。"
            "内容を確認し、別の承認者に承認を依頼してください。",
        )
        if created.skipped:
            messages.warning(request, f"口座情報に問題があり対象外にした支払: {len(created.skipped)} 件")
        return self._back(batch.pk)

    def approve_view(self, request: HttpRequest, pk: int):
        if request.method != "POST":
            raise PermissionDenied
        try:
            batch = batch_approve(batch_id=pk, by=request.user)
        except BatchPermissionDenied as refused:
            messages.error(request, str(refused))
            return TemplateResponse(
                request, "admin/payouts/transferbatch/refused.html",
                {**self.admin_site.each_context(request), "title": "承認できません", "message": str(refused),
                 "pk": pk},
                status=403,
            )  # fmt: skip
        except BatchAlreadyDecided as late:
            messages.error(request, str(late))
            return TemplateResponse(
                request, "admin/payouts/transferbatch/refused.html",
                {**self.admin_site.each_context(request), "title": "承認済みです", "message": str(late),
                 "pk": pk},
                status=409,
            )  # fmt: skip
        except BatchError as refused:
            messages.error(request, str(refused))
            return self._back(pk)
        messages.success(request, f"{batch} を承認しました。振込データをダウンロードできます。")
        return self._back(pk)

    def cancel_view(self, request: HttpRequest, pk: int):
        if request.method != "POST":
            raise PermissionDenied
        try:
            batch = batch_cancel(batch_id=pk, by=request.user)
        except BatchPermissionDenied as refused:
            raise PermissionDenied(str(refused)) from None
        except BatchError as refused:
            messages.error(request, str(refused))
            return self._back(pk)
        messages.success(request, f"{batch} を取り消しました。支払は次のバッチの対象に戻りました。")
        return self._back(pk)

    def zengin_view(self, request: HttpRequest, pk: int):
        batch = get_object_or_404(TransferBatch, pk=pk)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        folder = Path(tempfile.mkdtemp(prefix="zengin-"))
        out = folder / f"sogo-furikomi-{pk}.txt"
        try:
            batch_export_zengin(batch_id=pk, out=out)
        except (BatchError, ZenginError) as refused:
            shutil.rmtree(folder, ignore_errors=True)
            messages.error(request, str(refused))
            return self._back(pk)
        content = out.read_bytes()
        shutil.rmtree(folder, ignore_errors=True)
        response = HttpResponse(content, content_type="text/plain; charset=shift_jis")
        response["Content-Disposition"] = f'attachment; filename="sogo-furikomi-{pk}.txt"'
        return response

    def return_view(self, request: HttpRequest, pk: int):
        """One return typed in on the batch's page (operations)."""
        if request.method != "POST" or not has_role(request.user, Role.OPERATIONS):
            raise PermissionDenied
        try:
            result = transfer_return_by_hand(
                batch_id=pk,
                customer_code=request.POST.get("customer_code", ""),
                reason=request.POST.get("reason", ""),
                actor=request.user,
            )
        except ReturnsFileError as refused:
            messages.error(request, "記録しませんでした: " + " / ".join(refused.problems))
        else:
            if result.returned:
                messages.success(
                    request, f"組戻しを記録し、口座の再登録を依頼しました（{result.total_yen:,} 円）。"
                )
            else:
                messages.info(request, "この振込の組戻しは記録済みです。")
        return self._back(pk)

    def returns_view(self, request: HttpRequest):
        if not has_role(request.user, Role.OPERATIONS):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "組戻しの取り込み",
            "opts": self.model._meta,
            "errors": [],
        }
        if request.method == "POST":
            upload = request.FILES.get("file")
            if upload is None:
                context["errors"] = ["ファイルを選んでください。"]
            elif upload.size > 5 * 1024 * 1024:
                context["errors"] = ["ファイルが大きすぎます（5MBまで）。"]
            else:
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / Path(upload.name).name
                    path.write_bytes(upload.read())
                    try:
                        result = transfer_returns_import(path, actor=request.user)
                    except ReturnsFileError as refused:
                        context["errors"] = refused.problems
                    else:
                        messages.success(
                            request,
                            f"組戻し {result.returned:,} 件（{result.total_yen:,} 円）を記録し、"
                            f"{result.notified:,} 件に口座の再登録を依頼しました"
                            f"（記録済み {result.already:,} 件）。"
                            "",
                        )
                        return self._back()
        return TemplateResponse(request, "admin/payouts/transferbatch/returns.html", context)


admin.site.register(TransferBatch, TransferBatchAdmin)


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    """Read-only: which rung went to which subject when (the message itself is in the outbox)."""

    list_display = ["sent_at", "rung", "subject", "message"]
    list_filter = ["rung"]
    search_fields = ["subject"]
    list_select_related = ["message"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
