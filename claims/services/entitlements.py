"""Entitlement services a person calls. Every status change goes through
:func:`claims.services.transitions.entitlement_transition` (the one transitions table)."""

from __future__ import annotations

from django.contrib.auth.models import User

from claims.models import Entitlement
from claims.services.transitions import TransitionError, entitlement_transition

__all__ = ["TransitionError", "entitlement_reject"]

# The call desk's name for the transition service before it moved to claims.services.transitions.
_transition = entitlement_transition


def entitlement_reject(*, entitlement_id: int, actor: User | None, reason: str) -> Entitlement:
    """A person decides an entitlement (typically a 2-x candidate) is not owed. Final: the
    eligibility engine never re-creates or changes it."""
    if not reason.strip():
        raise TransitionError("対象外とする理由を入力してください")
    return entitlement_transition(
        entitlement_id=entitlement_id, to=Entitlement.Status.REJECTED, actor=actor, note=reason.strip()
    )
