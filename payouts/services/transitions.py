"""The one authority on a payout's status: the declared moves, and the service that makes one.

Gift points::

    created ──▶ link_sent ──▶ chosen ──▶ ordered ──▶ delivered
       └────────────┴──▶ expired (the receipt deadline passed with no choice)

Bank transfer::

    awaiting_bank_details ⇄ ready ⇄ in_batch ──▶ approved ──▶ transferred ──▶ returned
           ▲                                                                      │
           └──────────────────────────────────────────────────────────────────────┘
    (a returned transfer waits for corrected details, then is ready for a later batch)

Every change of status — a person's or a task's through :func:`payout_transition`, set-based SQL
alike — follows :data:`PAYOUT_TRANSITIONS`. The database holds everyone to it: a trigger generated
from this table (:func:`guard_sql`, installed by a migration, compared with this table by a test)
refuses any other move, so raw SQL obeys it too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from config import clock, transition_guard
from payouts.models import Payout, PayoutStatusChange

Status = Payout.Status

# The statuses a new payout may start in (payouts.services.creation).
INITIAL: frozenset[str] = frozenset({Status.CREATED, Status.AWAITING_BANK_DETAILS, Status.READY})

PAYOUT_TRANSITIONS: dict[str, frozenset[str]] = {
    # Gift points. A resend keeps link_sent (a new token, not a new status).
    Status.CREATED: frozenset({Status.LINK_SENT, Status.EXPIRED}),
    Status.LINK_SENT: frozenset({Status.CHOSEN, Status.EXPIRED}),
    # A choice made before the deadline is honoured after it: chosen goes on to the vendor.
    Status.CHOSEN: frozenset({Status.ORDERED}),
    Status.ORDERED: frozenset({Status.DELIVERED}),
    # Bank transfer.
    Status.AWAITING_BANK_DETAILS: frozenset({Status.READY}),
    # Details found wrong before batching send it back; a batch that is discarded frees it.
    Status.READY: frozenset({Status.IN_BATCH, Status.AWAITING_BANK_DETAILS}),
    Status.IN_BATCH: frozenset({Status.APPROVED, Status.READY}),
    Status.APPROVED: frozenset({Status.TRANSFERRED}),
    Status.TRANSFERRED: frozenset({Status.RETURNED}),
    Status.RETURNED: frozenset({Status.AWAITING_BANK_DETAILS}),
}


class PayoutTransitionError(Exception):
    """A move the state machine does not allow; the message names the current state."""


def allowed(from_status: str, to_status: str) -> bool:
    return to_status in PAYOUT_TRANSITIONS.get(from_status, frozenset())


def payout_transition(
    payout: Payout | int,
    to: str,
    *,
    actor: User | None = None,
    note: str = "",
    changes: dict[str, Any] | None = None,
) -> Payout:
    """Move one payout to ``to``: locks the row (SELECT ... FOR UPDATE), refuses a move
    :data:`PAYOUT_TRANSITIONS` does not declare (naming the current state, changing nothing), and
    writes the status change with its actor in the same transaction. ``changes`` are other fields
    that move with the status (the brand with ``chosen``, the account with ``ready``), saved in
    the same UPDATE so the CHECK constraints see them together. Returns the fresh row."""
    payout_id = payout if isinstance(payout, int) else payout.pk
    with transaction.atomic():
        locked = Payout.objects.select_for_update().get(pk=payout_id)
        if not allowed(locked.status, to):
            current = locked.get_status_display()
            wanted = Status(to).label if to in Status.values else to
            raise PayoutTransitionError(f"支払 {locked}: 「{current}」から「{wanted}」には変更できません")
        now = clock.now()
        PayoutStatusChange.objects.create(
            payout=locked, from_status=locked.status, to_status=to, actor=actor, note=note, at=now
        )
        fields = ["status", "updated_at"]
        locked.status = to
        locked.updated_at = now
        for name, value in (changes or {}).items():
            setattr(locked, name, value)
            fields.append(name)
        locked.save(update_fields=fields)
    if isinstance(payout, Payout):
        # The caller's instance follows, so code holding it does not act on a stale status.
        for name in ["status", "updated_at", *(changes or {})]:
            setattr(payout, name, getattr(locked, name))
    return locked


# --- the database's copy of the table ----------------------------------------------------------
GUARD_FUNCTION = "payouts_payout_transition_refused"


def guard_sql(initial: frozenset[str] | set[str], transitions: dict[str, frozenset[str]] | dict) -> str:
    """The trigger that holds raw SQL to ``transitions`` (``config.transition_guard``)."""
    return transition_guard.guard_sql(
        table="payouts_payout",
        noun="payout",
        function=GUARD_FUNCTION,
        initial=initial,
        transitions=transitions,
    )


DROP_GUARD_SQL = transition_guard.drop_guard_sql(table="payouts_payout", function=GUARD_FUNCTION)
