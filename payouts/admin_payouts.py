"""Staff admin of the payouts themselves (issue #10): every payout with its state, its receipt
link's state and its gift order, filtered by status, method, brand and link state; a resend of the
receipt link (new token, old one void) for operations. Read-only otherwise: payouts move only
through their services. Contacts are shown masked.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from claims.services.applications import mask_contact
from payouts.models import GiftOrder, Payout, PayoutStatusChange, ReceiptLink
from payouts.services.links import LinkError, link_resend
from staff.roles import Role, has_role

_LIVE = ReceiptLink.objects.filter(payout=OuterRef("pk"), voided_at__isnull=True)


class LinkStateFilter(admin.SimpleListFilter):
    title = "受取URLの状態"
    parameter_name = "link"

    def lookups(self, request, model_admin):
        return [
            ("none", "未送付"),
            ("unopened", "送付済み・未表示"),
            ("opened", "表示済み"),
            ("resent", "再送あり"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(method="points").exclude(Exists(_LIVE))
        if value == "unopened":
            return queryset.filter(Exists(_LIVE.filter(opened_at__isnull=True)))
        if value == "opened":
            return queryset.filter(Exists(_LIVE.filter(opened_at__isnull=False)))
        if value == "resent":
            voided = ReceiptLink.objects.filter(payout=OuterRef("pk"), voided_at__isnull=False)
            return queryset.filter(Exists(voided))
        return queryset


class PayoutStatusChangeInline(admin.TabularInline):
    model = PayoutStatusChange
    extra = 0
    can_delete = False
    fields = ["at", "from_label", "to_label", "actor", "note"]
    readonly_fields = fields
    verbose_name_plural = "状態の履歴"

    @admin.display(description="変更前")
    def from_label(self, obj: PayoutStatusChange) -> str:
        return dict(Payout.Status.choices).get(obj.from_status, "（新規）")

    @admin.display(description="変更後")
    def to_label(self, obj: PayoutStatusChange) -> str:
        return dict(Payout.Status.choices).get(obj.to_status, obj.to_status)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ReceiptLinkInline(admin.TabularInline):
    model = ReceiptLink
    extra = 0
    can_delete = False
    fields = ["created_at", "expires_at", "opened_at", "voided_at", "message"]
    readonly_fields = fields
    verbose_name_plural = "受取URL（トークンは保存していません）"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class GiftOrderInline(admin.StackedInline):
    model = GiftOrder
    extra = 0
    can_delete = False
    fields = [
        "brand",
        "amount_yen",
        "external_id",
        "status",
        "vendor_order_id",
        "attempts",
        "last_error",
        "accepted_at",
        "delivered_at",
        "redeemed_at",
    ]
    readonly_fields = fields
    verbose_name_plural = "ギフト発注"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = [
        "inquiry_number",
        "method",
        "status",
        "amount_shown",
        "brand",
        "link_state",
        "contact_shown",
        "created_at",
    ]
    list_filter = ["status", "method", "brand", LinkStateFilter, "incident"]
    search_fields = ["=inquiry_number"]
    ordering = ["-created_at", "-pk"]
    list_per_page = 100
    show_full_result_count = False  # a count of millions of rows on every page is not worth it
    actions = ["resend_links"]
    inlines = [PayoutStatusChangeInline, ReceiptLinkInline, GiftOrderInline]
    fields = [
        "incident",
        "entitlement",
        "inquiry_number",
        "method",
        "status",
        "amount_yen",
        "brand",
        "application",
        "bank_account",
        "contact_channel",
        "contact_shown",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payout]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_live_link=Exists(_LIVE),
                link_opened=Exists(_LIVE.filter(opened_at__isnull=False)),
            )
        )

    @admin.display(description="金額", ordering="amount_yen")
    def amount_shown(self, obj: Payout) -> str:
        return f"{obj.amount_yen:,} 円"

    @admin.display(description="受取URL")
    def link_state(self, obj: Payout) -> str:
        if obj.method != Payout.Method.POINTS:
            return "—"
        if getattr(obj, "link_opened", False):
            return "表示済み"
        if getattr(obj, "has_live_link", False):
            return "送付済み・未表示"
        return "未送付"

    @admin.display(description="連絡先")
    def contact_shown(self, obj: Payout) -> str:
        if not obj.contact:
            return "（なし）"
        if obj.contact_channel == "sms":
            return mask_contact(phone=obj.contact, email="")
        return mask_contact(phone="", email=obj.contact)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # payouts move only through their services

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.OPERATIONS)

    @admin.action(description="受取URLを再送する（以前のURLは無効）", permissions=["resend"])
    def resend_links(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        sent, refused = 0, []
        for payout in queryset.filter(method="points").only("pk"):
            try:
                link_resend(payout_id=payout.pk, actor=request.user)  # type: ignore[arg-type]
                sent += 1
            except LinkError as exc:
                refused.append(str(exc))
        if sent:
            self.message_user(request, f"{sent:,}件の受取URLを再送しました。", messages.SUCCESS)
        for reason in refused[:20]:
            self.message_user(request, reason, messages.WARNING)
