"""Supervisors' unlock of locked-out sign-ins (django-axes' attempts, in Japanese)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

import staff.filters  # noqa: F401  (the portal clock in every admin date filter)
from staff.models import LoginLockout
from staff.roles import Role, has_role
from staff.services import lockout_release


@admin.register(LoginLockout)
class LoginLockoutAdmin(admin.ModelAdmin):
    list_display = ["username", "ip_address", "failures_since_start", "attempt_time"]
    list_display_links = None
    search_fields = ["username", "ip_address"]
    ordering = ["-attempt_time"]
    actions = ["unlock"]
    fields = ["username", "ip_address", "failures_since_start", "attempt_time", "path_info"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # unlocking is the one way to remove an attempt
        if not (has_role(request.user, Role.SUPERVISOR) and self.has_delete_permission(request)):
            actions.pop("unlock", None)
        return actions

    @admin.action(description="選んだロックを解除する")
    def unlock(self, request, queryset) -> None:
        if not (has_role(request.user, Role.SUPERVISOR) and self.has_delete_permission(request)):
            raise PermissionDenied
        released = lockout_release(
            attempt_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, f"{released}件のロックを解除しました。", messages.SUCCESS)
