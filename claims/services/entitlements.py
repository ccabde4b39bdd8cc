"""Entitlement state machine: one service per transition, each locking the row and writing history.

    found ──extend──▶ extended ──final balance──▶ payable ──▶ paid / expired
      │                   │                        (or used_up, or covered by another group)
      └──reject──▶ rejected

The engine creates rows (``found``, or ``extended`` for 1-1) and records final balances; people
extend (1-2 on request; 2-x once the store's records match) and reject candidates.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from claims.models import Entitlement, EntitlementStatusChange
from config import clock

Status = Entitlement.Status

TRANSITIONS: dict[str, set[str]] = {
    Status.FOUND: {Status.EXTENDED, Status.REJECTED},
    Status.EXTENDED: {Status.PAYABLE, Status.USED_UP, Status.COVERED},
    Status.PAYABLE: {Status.PAID, Status.EXPIRED},
    # A supervisor at the call desk takes back a rejection (callcenter.services.call_decision_reopen).
    Status.REJECTED: {Status.FOUND},
}


class TransitionError(Exception):
    """A move the state machine does not allow; the message names the current state."""


def _transition(*, entitlement_id: int, to: str, actor: User | None, note: str) -> Entitlement:
    with transaction.atomic():
        entitlement = Entitlement.objects.select_for_update().get(pk=entitlement_id)
        if to not in TRANSITIONS.get(entitlement.status, set()):
            current, wanted = entitlement.get_status_display(), Status(to).label
            raise TransitionError(f"{entitlement}: 「{current}」から「{wanted}」には変更できません")
        EntitlementStatusChange.objects.create(
            entitlement=entitlement,
            from_status=entitlement.status,
            to_status=to,
            actor=actor,
            note=note,
            at=clock.now(),
        )
        entitlement.status = to
        entitlement.save(update_fields=["status"])
    return entitlement


def entitlement_reject(*, entitlement_id: int, actor: User | None, reason: str) -> Entitlement:
    """A person decides a found entitlement (typically a 2-x candidate) is not owed. Final: the
    eligibility engine never re-creates or changes it."""
    if not reason.strip():
        raise TransitionError("対象外とする理由を入力してください")
    return _transition(entitlement_id=entitlement_id, to=Status.REJECTED, actor=actor, note=reason.strip())
