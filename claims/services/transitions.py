"""The one authority on an entitlement's status: the declared moves, and the service that makes one.

    (new) ──▶ found ──extend──▶ extended ──final amount──▶ payable ⇄ used_up
     (1-1) ──────────────────▶    │                          │
               │  ▲               └──▶ covered (another group of the coupon carries the payment)
               │  └── withdrawn (a 2-x candidate nobody acted on that the data no longer supports)
               └──▶ rejected (a person: not owed; also from extended, payable, used_up;
                             a supervisor may reopen it: back to found)

Payment states (paid, expired) belong to the payouts app: the entitlement says what is owed.

Every change of status — a person's through :func:`entitlement_transition`, the engine's
set-based SQL alike — follows :data:`TRANSITIONS`. The database holds everyone to it: a trigger
generated from this table (:func:`guard_sql`, installed by a migration, compared with this table
by a test) refuses any other move, so raw SQL obeys it too.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from claims.models import Entitlement, EntitlementStatusChange
from config import clock, transition_guard

Status = Entitlement.Status

# The statuses a new entitlement may start in: a candidate, or a 1-1 coupon extended at once.
INITIAL: frozenset[str] = frozenset({Status.FOUND, Status.EXTENDED})

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.FOUND: frozenset({Status.EXTENDED, Status.REJECTED, Status.WITHDRAWN}),
    Status.EXTENDED: frozenset({Status.PAYABLE, Status.USED_UP, Status.COVERED, Status.REJECTED}),
    # A flag resolved with a new final amount moves between these two; a rejection ends either.
    Status.PAYABLE: frozenset({Status.USED_UP, Status.REJECTED}),
    Status.USED_UP: frozenset({Status.PAYABLE, Status.REJECTED}),
    # The data supports the candidate again (e.g. the outage window corrected back).
    Status.WITHDRAWN: frozenset({Status.FOUND}),
    # A supervisor at the call desk takes back a rejection (callcenter.services.call_decision_reopen).
    Status.REJECTED: frozenset({Status.FOUND}),
}


class TransitionError(Exception):
    """A move the state machine does not allow; the message names the current state."""


def allowed(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def entitlement_transition(
    *,
    entitlement_id: int,
    to: str,
    actor: User | None,
    note: str,
    changes: dict[str, object] | None = None,
) -> Entitlement:
    """Move one entitlement to ``to``: locks the row, refuses a move :data:`TRANSITIONS` does not
    declare (naming the current state), and writes the status change with its actor. Extending
    sets the extended validity from the incident when the row has none yet; ``changes`` are other
    fields that move with the status, saved in the same UPDATE (the CHECKs see them together)."""
    with transaction.atomic():
        entitlement = (
            Entitlement.objects.select_for_update(of=("self",))
            .select_related("incident")
            .get(pk=entitlement_id)
        )
        if not allowed(entitlement.status, to):
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
        fields = ["status"]
        entitlement.status = to
        for name, value in (changes or {}).items():
            setattr(entitlement, name, value)
            fields.append(name)
        if to == Status.EXTENDED and entitlement.valid_until is None:
            entitlement.valid_until = entitlement.incident.extension_valid_until
            fields.append("valid_until")
        entitlement.save(update_fields=fields)
    return entitlement


# --- the database's copy of the table ----------------------------------------------------------
GUARD_FUNCTION = "claims_entitlement_transition_refused"


def guard_sql(initial: frozenset[str] | set[str], transitions: dict[str, frozenset[str]] | dict) -> str:
    """The trigger that holds raw SQL to ``transitions`` (``config.transition_guard``)."""
    return transition_guard.guard_sql(
        table="claims_entitlement",
        noun="entitlement",
        function=GUARD_FUNCTION,
        initial=initial,
        transitions=transitions,
    )


DROP_GUARD_SQL = transition_guard.drop_guard_sql(table="claims_entitlement", function=GUARD_FUNCTION)
