from axes.models import AccessAttempt


class LoginLockout(AccessAttempt):
    """django-axes' failed sign-in attempts, named in Japanese for the supervisor's unlock page."""

    class Meta:
        proxy = True
        verbose_name = "ログインのロック"
        verbose_name_plural = "ログインのロック"


# ---- Audit trail (django-pghistory) -------------------------------------------------------------
# Database triggers record every insert, update and delete — through the ORM, a bulk write or raw
# SQL — into one event table per tracked model, with the request's context (the staff user and the
# URL, from pghistory's middleware) when there is one. The event models live here, in one room, so
# no domain app carries audit code or audit migrations; statement-level triggers keep the
# eligibility engine's set-based writes set-based. Event tables are append-only (PGHISTORY_APPEND_ONLY).
import pghistory  # noqa: E402
import pgtrigger  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import models  # noqa: E402

from callcenter.models import CallCase, CallDecision  # noqa: E402
from claims.models import (  # noqa: E402
    Application,
    BankAccount,
    Entitlement,
    Incident,
    Instruction,
    Reinstatement,
)


def _events(
    model, name: str, *, exclude: list[str] | None = None, baseline: bool = False, attrs: dict | None = None
):
    # A "baseline" snapshot is written for rows that existed before the triggers (the incident from
    # its data migration, accounts of an older install), so their first change has a "before".
    extra = [pghistory.ManualEvent(BASELINE)] if baseline else []
    return pghistory.create_event_model(
        model,
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        *extra,
        exclude=exclude,
        model_name=name,
        app_label="staff",
        obj_field=pghistory.ObjForeignKey(related_name="audit_events", db_constraint=False),
        level=pgtrigger.Statement,
        abstract=False,
        attrs=attrs,
    )


def _copied_key(to: str, verbose_name: str, **options) -> models.ForeignKey:
    """A foreign key as the trail copies it from the tracked row, without the index pghistory gives
    it: the trail is read by object and by person (``pgh_obj``, ``pgh_context``), never by these,
    and the eligibility engine writes its decisions in bulk — 401,950 entitlements and as many
    instructions in one statement at 10M, where each index of the event table cost seconds."""
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        related_query_name="+",
        verbose_name=verbose_name,
        **options,
    )


BASELINE = "baseline"
IncidentEvent = _events(Incident, "IncidentEvent", baseline=True)
EntitlementEvent = _events(
    Entitlement,
    "EntitlementEvent",
    attrs={
        "incident": _copied_key("claims.Incident", "障害"),
        "coupon": _copied_key("coupons.Coupon", "クーポン", db_column="inquiry_number"),
    },
)
InstructionEvent = _events(
    Instruction, "InstructionEvent", attrs={"entitlement": _copied_key("claims.Entitlement", "補償対象")}
)
ReinstatementEvent = _events(Reinstatement, "ReinstatementEvent")
CallCaseEvent = _events(CallCase, "CallCaseAuditEvent")
CallDecisionEvent = _events(CallDecision, "CallDecisionEvent")
# Travellers' applications and bank accounts: who changed what and when, never their personal data.
# Names, contacts and the account holder are left out; the verification code's hash, the idempotency
# key and the stored first response too (secrets, or a copy of the contact). The account number is
# kept as its ciphertext only: a plain text column, so the audit pages never decrypt it.
ApplicationEvent = _events(
    Application,
    "ApplicationEvent",
    exclude=[
        "name",
        "name_kana",
        "phone",
        "email",
        "code_hash",
        "idempotency_key",
        "request_fingerprint",
        "response_body",
    ],
)
BankAccountEvent = _events(
    BankAccount,
    "BankAccountEvent",
    exclude=["holder_kana"],
    attrs={"account_number": models.TextField("口座番号（暗号文）")},
)
# Staff permissions: accounts (never the password hash; not each login's timestamp), groups and
# the three memberships (user↔group, user↔permission, group↔permission).
UserEvent = _events(User, "UserEvent", exclude=["password", "last_login"], baseline=True)
GroupEvent = _events(Group, "GroupEvent", baseline=True)
BASELINED = [IncidentEvent, UserEvent, GroupEvent]
UserGroupEvent = _events(User.groups.through, "UserGroupEvent")
UserPermissionEvent = _events(User.user_permissions.through, "UserPermissionEvent")
GroupPermissionEvent = _events(Group.permissions.through, "GroupPermissionEvent")
