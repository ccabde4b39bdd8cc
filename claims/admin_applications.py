"""Staff admin of the travellers' applications: read-only (applications change only through the
services), searchable by reference number, inquiry number and phone number as people type them,
filtered by state; each shows its coupon's entitlements, the messages sent and its history.

Bank account numbers are shown masked unless the user holds the operations role (a superuser
holds every role).
"""

from __future__ import annotations

import contextlib

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from claims.models import Application, ApplicationStatusChange, BankAccount, Entitlement
from claims.services.applications import normalize_reference, phone_e164, reference_number_display
from coupons.inquiry import normalize_inquiry_number
from staff.roles import Role, has_role


def sees_account_numbers(request: HttpRequest) -> bool:
    """Whether this user may read bank account numbers in full (the operations role)."""
    return has_role(request.user, Role.OPERATIONS)


class ApplicationStatusChangeInline(admin.TabularInline):
    model = ApplicationStatusChange
    extra = 0
    can_delete = False
    fields = ["at", "from_label", "to_label", "actor_name", "note"]
    readonly_fields = fields
    verbose_name_plural = "状態の履歴"

    @admin.display(description="変更前")
    def from_label(self, obj: ApplicationStatusChange) -> str:
        return dict(Application.Status.choices).get(obj.from_status, "（新規）")

    @admin.display(description="変更後")
    def to_label(self, obj: ApplicationStatusChange) -> str:
        return dict(Application.Status.choices).get(obj.to_status, obj.to_status)

    @admin.display(description="担当者")
    def actor_name(self, obj: ApplicationStatusChange) -> str:
        user = obj.actor  # text, not a link to the account's page (a 403 for most staff)
        if user is None:
            return "システム"
        full = f"{user.last_name} {user.first_name}".strip()
        return f"{full}（{user.username}）" if full else user.username

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class BankAccountInline(admin.StackedInline):
    model = BankAccount
    extra = 0
    can_delete = False
    fields = ["bank_code", "bank_name", "branch_code", "branch_name", "account_type", "number", "holder_kana"]
    readonly_fields = fields
    verbose_name_plural = "振込先口座"

    @admin.display(description="口座番号")
    def number(self, obj: BankAccount) -> str:
        request = getattr(self, "_request", None)
        if request is not None and sees_account_numbers(request):
            return obj.account_number
        return obj.masked_number

    def get_formset(self, request, obj=None, **kwargs):
        self._request = request
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "status",
        "coupon_number",
        "payout_method",
        "masked_contact",
        "created_at",
        "submitted_at",
    ]
    list_filter = ["status", "payout_method", "created_at"]
    search_fields = ["=reference_number", "=coupon__inquiry_number", "=phone", "=email"]
    ordering = ["-created_at", "-pk"]
    date_hierarchy = "created_at"
    inlines = [BankAccountInline, ApplicationStatusChangeInline]
    fieldsets = [
        (None, {"fields": ["reference", "status", "public_id", "created_at", "submitted_at"]}),
        ("クーポンと判定", {"fields": ["coupon_link", "entitlements"]}),
        (
            "申請者",
            {"fields": ["name", "name_kana", "phone", "email", "prefecture_code", "travel_date", "language"]},
        ),
        ("受取", {"fields": ["payout_method"]}),
        ("確認コード", {"fields": ["code_attempts", "code_sent_at"]}),
        ("送ったメッセージ", {"fields": ["messages"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        """A reference number, an inquiry number or a phone number in any shape people type."""
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        reference = normalize_reference(term)
        matches = queryset.none()
        if reference:
            matches = matches | queryset.filter(reference_number=reference)
        matches = matches | queryset.filter(coupon_id=normalize_inquiry_number(term))
        if "@" in term:
            matches = matches | queryset.filter(email__iexact=term)
        else:
            from claims.services.applications import FieldInvalid, parse_phone

            with contextlib.suppress(FieldInvalid):
                matches = matches | queryset.filter(phone=phone_e164(parse_phone(term)))
        return matches, False

    @admin.display(description="受付番号", ordering="reference_number")
    def reference(self, obj: Application) -> str:
        return reference_number_display(obj.reference_number) if obj.reference_number else "（未確定）"

    @admin.display(description="お問合せ番号", ordering="coupon_id")
    def coupon_number(self, obj: Application) -> str:
        return obj.coupon_id

    @admin.display(description="連絡先")
    def masked_contact(self, obj: Application) -> str:
        from claims.services.applications import mask_contact

        return mask_contact(phone=str(obj.phone or ""), email=obj.email)

    @admin.display(description="クーポン")
    def coupon_link(self, obj: Application) -> str:
        url = reverse("admin:coupons_coupon_change", args=[obj.coupon_id])
        return format_html('<a href="{}">{}</a>', url, obj.coupon_id)

    @admin.display(description="補償対象（判定）")
    def entitlements(self, obj: Application) -> str:
        rows = Entitlement.objects.filter(incident=obj.incident, coupon_id=obj.coupon_id).order_by("category")
        if not rows:
            return "判定なし"
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> {} ・ {} ・ {} 円</div>',
            (
                (
                    reverse("admin:claims_entitlement_change", args=[e.pk]),
                    e.get_category_display(),
                    e.get_route_display(),
                    e.get_status_display(),
                    f"{e.amount_yen:,}",
                )
                for e in rows
            ),
        )

    @admin.display(description="メッセージ")
    def messages(self, obj: Application) -> str:
        from notifications.models import Message

        references = [str(obj.public_id)]
        if obj.reference_number:
            references.append(reference_number_display(obj.reference_number))
        rows = Message.objects.filter(reference__in=references).order_by("created_at", "pk")
        if not rows:
            return "なし"
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> {} ・ {} ・ {}</div>',
            (
                (
                    reverse("admin:notifications_message_change", args=[m.pk]),
                    localtime(m.created_at).strftime("%Y/%m/%d %H:%M") if m.created_at else "",
                    m.get_channel_display(),
                    m.template,
                    m.get_status_display(),
                )
                for m in rows
            ),
        )
