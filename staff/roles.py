"""Staff roles: five Django groups, least privilege, and the one question "does this user hold role X".

The groups are created by the data migration ``staff/0001_roles`` and kept in step with
:data:`ROLE_PERMISSIONS` after every ``migrate`` (a ``post_migrate`` receiver), so a room that adds a
model adds its codenames here and the next migrate grants them. The auditor is the exception that
proves the rule: it holds every ``view_*`` permission of every model, present and future, and nothing
else ("reads everything, changes nothing").
"""

from __future__ import annotations

from typing import Any

from django.db import models


class Role(models.TextChoices):
    # value: the code used in code; label: the group's name, which staff see in the admin.
    AGENT = "agent", "コールセンター担当"
    SUPERVISOR = "supervisor", "コールセンター責任者"
    OPERATIONS = "operations", "運営事務局"
    APPROVER = "approver", "支払承認者"
    AUDITOR = "auditor", "監査"


_LEDGER = [
    "coupons.view_store",
    "coupons.view_coupon",
    "coupons.view_couponmovement",
    "coupons.view_storesale",
]
_RULES_READ = [
    "claims.view_incident",
    "claims.view_entitlement",
    "claims.view_entitlementstatuschange",
    "claims.view_instruction",
]

# Least privilege: each role holds what its work needs. Codenames that do not exist (yet) are an
# error at migrate time, so a typo cannot silently leave a role without a permission.
_OUTBOX_READ = ["notifications.view_message"]  # "did my code arrive?": the agent sees it was sent
_DESK = [
    "callcenter.view_callcase",
    "callcenter.add_callcase",
    "callcenter.change_callcase",
    "callcenter.view_calldecision",
    "callcenter.view_callcaseevent",
]
# The travellers' applications (read-only in the admin; they change only through their services).
# Bank account numbers show in full only to operations (claims.admin_applications).
_APPLICATIONS_READ = [
    "claims.view_application",
    "claims.view_applicationstatuschange",
    "claims.view_bankaccount",
]
_BATCHES_READ = ["payouts.view_transferbatch", "payouts.view_transferline"]
_PAYOUTS_READ = [
    "payouts.view_payout",
    "payouts.view_payoutstatuschange",
    "payouts.view_receiptlink",
    "payouts.view_giftorder",
]
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.AGENT: [
        *_LEDGER,
        *_RULES_READ,
        *_DESK,
        *_OUTBOX_READ,
        *_APPLICATIONS_READ,
        "claims.change_entitlement",
    ],
    Role.SUPERVISOR: [
        *_LEDGER,
        *_RULES_READ,
        *_DESK,
        *_OUTBOX_READ,
        *_APPLICATIONS_READ,
        "callcenter.approve_calldecision",
        "callcenter.reopen_calldecision",
        "claims.change_entitlement",
        "claims.view_eligibilityrun",
        # Unlocking a locked-out sign-in (django-axes' attempts, shown as ログインのロック).
        "staff.view_loginlockout",
        "staff.delete_loginlockout",
    ],
    Role.OPERATIONS: [
        *_LEDGER,
        *_RULES_READ,
        *_APPLICATIONS_READ,
        "coupons.view_importrun",
        "coupons.add_importrun",
        "claims.change_incident",
        "claims.change_entitlement",
        "claims.view_eligibilityrun",
        "claims.add_eligibilityrun",
        "notifications.view_message",
        "notifications.resend_message",
        # The portal's own account in the Zengin header: corrected by operations, history kept.
        "payouts.view_requesteraccount",
        "payouts.change_requesteraccount",
        # Transfer batches: made (and cancelled while a draft) by operations, approved by another
        # person with the approver role (payouts.services.batches checks the roles themselves).
        *_BATCHES_READ,
        "payouts.add_transferbatch",
        "payouts.view_reminder",
        # Every payout, its links and gift order; resending a link is the operations role's
        # (payouts.admin_payouts checks it).
        *_PAYOUTS_READ,
    ],
    Role.APPROVER: [
        *_LEDGER,
        *_RULES_READ,
        "payouts.view_requesteraccount",
        *_BATCHES_READ,
        "payouts.approve_transferbatch",
        *_PAYOUTS_READ,
    ],
    Role.AUDITOR: [],  # every view_* permission, added by roles_sync
}
# Read-everything stops at secrets: second-factor keys and codes, and raw session data.
AUDITOR_NEVER_SEES = {
    ("otp_totp", "view_totpdevice"),
    ("otp_static", "view_staticdevice"),
    ("otp_static", "view_statictoken"),
    ("sessions", "view_session"),
}


def has_role(user: Any, role: Role) -> bool:
    """Whether ``user`` holds ``role``. A superuser holds every role; an inactive user none."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_staff_group_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._staff_group_names = cached
    return role.label in cached


def user_roles(user: Any) -> list[Role]:
    return [role for role in Role if has_role(user, role)]


def roles_sync(apps: Any) -> None:
    """Create the five groups and set each one's permissions to exactly :data:`ROLE_PERMISSIONS`.

    ``apps`` is a migration's historical registry or the live one (``django.apps.apps``).
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.label)
        if role is Role.AUDITOR:
            permissions = [
                permission
                for permission in permission_model.objects.filter(
                    codename__startswith="view_"
                ).select_related("content_type")
                if (permission.content_type.app_label, permission.codename) not in AUDITOR_NEVER_SEES
            ]
        else:
            permissions = []
            for name in ROLE_PERMISSIONS[role]:
                label, codename = name.split(".")
                found = permission_model.objects.filter(
                    content_type__app_label=label, codename=codename
                ).first()
                if found is None:
                    raise LookupError(f"role {role.value}: permission {name} does not exist")
                permissions.append(found)
        group.permissions.set(permissions)
