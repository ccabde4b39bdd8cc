"""The outbox in the admin: read-only for staff, recipients masked in the list, failed ones resendable."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.models import Message, MessageStatusChange
from notifications.phones import mask
from notifications.services import TransitionError, message_resend


class MessageStatusChangeInline(admin.TabularInline):
    model = MessageStatusChange
    extra = 0
    can_delete = False
    fields = ["at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "channel",
        "masked_to",
        "template",
        "language",
        "reference",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "channel", "template", "language"]
    search_fields = ["=reference"]
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ["resend_failed"]
    inlines = [MessageStatusChangeInline]
    fields = [
        "key",
        "channel",
        "to",
        "template",
        "language",
        "reference",
        "subject",
        "body_shown",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_until",
        "provider_id",
        "last_error",
        "created_at",
        "updated_at",
        "sent_at",
    ]
    readonly_fields = fields

    @admin.display(description="宛先")
    def masked_to(self, obj: Message) -> str:
        return mask(obj.to)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.resend_message")

    @admin.action(description="送信失敗のメッセージを再送する", permissions=["resend"])
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        resent = skipped = 0
        for message_id in queryset.values_list("pk", flat=True):
            try:
                message_resend(message_id=message_id, actor=request.user)
            except TransitionError:
                skipped += 1
            else:
                resent += 1
        self.message_user(request, f"{resent}件を再送の待ち行列に戻しました。", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped}件は送信失敗の状態ではないため、再送しませんでした。", messages.WARNING
            )
