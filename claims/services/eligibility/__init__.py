"""The eligibility engine: find every coupon the outage hurt, in every group, from the ledger.

The rules are DOMAIN.md's "How the portal decides", with every date and number read from the
:class:`~claims.models.Incident`. This package reads top to bottom as a run does:

- ``scans``: the rules' SQL — two scans of the ledger (balances at the three instants per coupon;
  the outage's payments with every cancel and reinstatement), and what 1-1 and 1-2 select;
- ``deductions``: 2-x — cancels, duplicates and the till pairing, walked in time order;
- ``scope``: which coupons an incremental run re-decides;
- ``decisions``: new entitlements, echoes, the review, and the final amounts;
- here: the run, one transaction that reads one snapshot.

A run is one REPEATABLE READ transaction under an advisory lock: every statement reads the same
snapshot, the one its checkpoint records, so the next run knows exactly what this one saw. Killed
half-way it leaves nothing; run again (or twice) it ends with the same rows. A decision is
inserted once (``ON CONFLICT DO NOTHING`` on the unique coupon-and-group) and never rewritten: a
person's decision stands. When later data contradicts a decision, the run flags it
``needs_review`` with both readings (see ``decisions.REVIEW``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from claims.models import Incident
from claims.services.eligibility import decisions, scans, scope
from claims.services.eligibility.deductions import deductions_decide
from claims.services.eligibility.scope import INCREMENTAL_MAX, Checkpoint
from coupons.services.ledger_changes import CURRENT_SNAPSHOT

__all__ = ["ADVISORY_LOCK", "STEPS", "Checkpoint", "RunSummary", "eligibility_run", "gates", "rules_digest"]

JST = ZoneInfo("Asia/Tokyo")

# pg_advisory_lock key space: one eligibility run per incident at a time.
ADVISORY_LOCK = 0x5245_4749  # "REGI"

Progress = Callable[[str, int, int], None]  # (step, done, total)

STEPS = ("scan", "1-1", "1-2", "2-2", "2-1", "applied", "review", "final")

TEMP_TABLES = (
    "elig_dirty",
    "elig_balance",
    "elig_event",
    "elig_2_1",
    "elig_2_2",
    "elig_now",
    "elig_final",
    "elig_review",
)


@dataclass
class RunSummary:
    mode: str = "full"
    coupons: int | None = None  # the coupons an incremental run re-decided
    created: dict[str, int] = field(default_factory=dict)
    flagged_for_review: int = 0
    review_cleared: int = 0
    withdrawn: int = 0
    restored: int = 0
    final_balances_recorded: int = 0
    instructions_applied: int = 0
    checkpoint: Checkpoint | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "coupons": self.coupons,
            "created": self.created,
            "flagged_for_review": self.flagged_for_review,
            "review_cleared": self.review_cleared,
            "withdrawn": self.withdrawn,
            "restored": self.restored,
            "final_balances_recorded": self.final_balances_recorded,
            "instructions_applied": self.instructions_applied,
        }


# How many decisions a run may add before it refreshes the planner's statistics mid-run.
FRESH_STATISTICS_AFTER = 10_000


def _params(incident: Incident, as_of: dt.datetime) -> dict[str, Any]:
    return {
        "incident": incident.pk,
        "prefix": incident.code,
        "prefectures": sorted(incident.prefecture_codes),
        "now": as_of,
        "start": incident.outage_start,
        "end": incident.outage_end,
        "d11": incident.group_1_1_expires_on,
        "c11": incident.group_1_1_cutoff_at,
        "d12": incident.group_1_2_expires_on,
        "c12": incident.group_1_2_cutoff_at,
        "ext": incident.extension_valid_until,
        "final": incident.final_balance_at,
        "gap": incident.duplicate_gap_seconds,
        "till": incident.till_match_seconds,
        "when": as_of.astimezone(JST).strftime("%Y/%m/%d %H:%M"),
    }


def gates(incident: Incident, as_of: dt.datetime) -> tuple[str, ...]:
    """What the clock has opened at ``as_of``, from the incident's instants: the 2-x groups once the
    outage is over, 1-2 and 1-1 at their cut-offs (travellers could still pay until then), and the
    final amounts. A run decides what is open; a run is due when this changes."""
    instants = (
        ("1-2", incident.group_1_2_cutoff_at),
        ("1-1", incident.group_1_1_cutoff_at),
        ("2-x", incident.outage_end),
        ("final", incident.final_balance_at),
    )
    return tuple(name for name, at in instants if as_of >= at)


def rules_digest(incident: Incident) -> str:
    """A digest of the incident's rules: a run whose digest differs read other rules."""
    rules = {k: v for k, v in _params(incident, incident.outage_end).items() if k not in {"now", "when"}}
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def _one_snapshot(incident: Incident):
    """One REPEATABLE READ transaction under the incident's advisory lock, the lock taken first
    (on the session) so that the snapshot is taken after any earlier run has committed. Inside
    an outer transaction (tests) the outer one's isolation is kept and the lock is the
    transaction's."""
    outer = connection.in_atomic_block
    if not outer:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK, incident.pk])
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if outer:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK, incident.pk])
            else:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cursor
    finally:
        if not outer:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK, incident.pk])


def eligibility_run(
    *,
    incident: Incident,
    as_of: dt.datetime,
    progress: Progress | None = None,
    since: Checkpoint | None = None,
) -> RunSummary:
    """Run every rule for ``incident`` as the portal's clock reads ``as_of``; see the module doc.

    With ``since`` (the previous run's checkpoint) the run is incremental when it can be; the
    summary says which it was and carries the checkpoint for the next run.
    """
    params = _params(incident, as_of)
    summary = RunSummary()

    def step(name: str) -> None:
        if progress:
            progress(name, STEPS.index(name), len(STEPS))

    with _one_snapshot(incident) as cursor:
        # The snapshot every statement below reads: what the next run starts from.
        cursor.execute(CURRENT_SNAPSHOT)
        xact, snapshot = cursor.fetchone()
        opened = gates(incident, as_of)
        summary.checkpoint = Checkpoint(
            xact=xact, snapshot=snapshot, gates=",".join(opened), rules=rules_digest(incident)
        )
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # No JIT compilation: the run's statements are planned once each, and at 10M the planner's
        # costs put most of them past the JIT thresholds, where compiling the review's and the
        # decisions' expressions took longer than evaluating them (auto_explain: seconds a run).
        cursor.execute("SET LOCAL jit = off")
        for table in TEMP_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        step("scan")
        where = _read(cursor, params, summary, since)
        for table in ("elig_balance", "elig_event", "elig_2_1", "elig_2_2"):
            cursor.execute(f"ANALYZE {table}")  # temporary tables have no statistics until asked

        # What was decided before this run: the review reads only those (a decision made below
        # from this very snapshot agrees with it by construction).
        cursor.execute("SELECT coalesce(max(id), 0) FROM claims_entitlement")
        params["decided_before"] = cursor.fetchone()[0]
        # A group is decided only once its facts are final (see ``gates``).
        groups = (
            ("1-1", scans.SELECT_1_1, True, "1-1"),
            ("1-2", scans.SELECT_1_2, False, "1-2"),
            ("2-2", scans.SELECT_2_X.format(table="elig_2_2"), False, "2-x"),
            ("2-1", scans.SELECT_2_X.format(table="elig_2_1"), False, "2-x"),
        )
        for name, select_sql, extended, gate in groups:
            step(name)
            summary.created[name] = 0
            if gate in opened:
                cursor.execute(
                    decisions.insert_entitlements(select_sql, extended=extended, category=name), params
                )
                summary.created[name] = cursor.fetchone()[0]
        if sum(summary.created.values()) > FRESH_STATISTICS_AFTER:
            # Many new decisions (the first run writes the whole incident's): the statements below
            # join them, and planned on the statistics of a table that was empty they nest loops
            # over hundreds of thousands of rows (the final amounts took minutes at 10M).
            cursor.execute("ANALYZE claims_entitlement, claims_instruction")
        step("applied")
        _fresh_trigger_plans(cursor)
        cursor.execute(decisions.APPLIED, params)
        summary.instructions_applied = cursor.rowcount

        step("review")
        cursor.execute(
            f"CREATE TEMP TABLE elig_now ON COMMIT DROP AS {scans.CURRENT_AMOUNT} AND {where}", params
        )
        cursor.execute(decisions.FINAL_NOW.format(scope=where), params)
        cursor.execute("ANALYZE elig_now")
        cursor.execute("ANALYZE elig_final")
        cursor.execute(decisions.REVIEW, params)
        for sql in decisions.REVIEW_APPLY:
            _fresh_trigger_plans(cursor)
            cursor.execute(sql, params)
        cursor.execute(decisions.REVIEW_COUNTS)
        counts = dict(cursor.fetchall())
        summary.flagged_for_review = counts.get("flag", 0)
        summary.review_cleared = counts.get("clear", 0)
        summary.withdrawn = counts.get("withdraw", 0)
        summary.restored = counts.get("restore", 0)

        step("final")
        if "final" in opened:
            _fresh_trigger_plans(cursor)
            cursor.execute(decisions.FINAL.format(scope=where), params)
            summary.final_balances_recorded = cursor.fetchone()[0]
        if summary.mode == "full":
            # A full run may have written most of the decisions: fresh statistics keep the plans of
            # the incremental runs that follow on their indexes (autovacuum would come later).
            cursor.execute("ANALYZE claims_entitlement, claims_instruction")
    return summary


def _fresh_trigger_plans(cursor) -> None:
    """Before a set-based UPDATE: the audit trail's statement triggers (pghistory) join the old
    and new rows, and PL/pgSQL keeps the plan of that join from the trigger's first firing in the
    session. Planned for a statement that changed no row, it is a nested loop; reused for the
    400,000 final amounts of the 10M bench, it ran for minutes. Dropping the session's cached
    plans makes the trigger plan again for the rows at hand."""
    cursor.execute("DISCARD PLANS")


def _read(cursor, params: dict[str, Any], summary: RunSummary, since: Checkpoint | None) -> str:
    """Scan the ledger (all of it, or the changed coupons'), walk the outage's deductions, and
    return the condition on decisions that the rest of the run is restricted to."""
    checkpoint = summary.checkpoint
    if checkpoint is None:
        raise RuntimeError("the run's checkpoint is taken before it reads")
    dirty: list[str] | None = None
    stores_changed = False
    if since is not None and scope.can_be_incremental(cursor, since, checkpoint):
        dirty, stores_changed = scope.dirty_coupons(cursor, {**params, **scope.since_params(since)})
    if dirty is None or len(dirty) > INCREMENTAL_MAX:
        _scan_events(cursor, params, "true")
        deductions_decide(cursor, params)
        cursor.execute(scans.SCAN_BALANCES.format(scope="true"), params)
        return "true"

    _scan_events(cursor, params, scope.DIRTY_MOVEMENTS)
    cursor.execute(scope.REACHES_OUTAGE)
    if stores_changed or cursor.fetchone()[0]:
        # 2-1 pairs receipts across coupons: walk the whole outage again, and re-decide every
        # coupon whose 2-x reading moved.
        cursor.execute("DROP TABLE elig_event")
        _scan_events(cursor, params, "true")
        deductions_decide(cursor, params)
        cursor.execute(scope.DIRTY_BY_DEDUCTIONS, params)
        dirty = scope.dirty_list(cursor)
    else:
        deductions_decide(cursor, params)
    summary.mode = "incremental"
    summary.coupons = len(dirty)
    params["dirty"] = dirty
    cursor.execute(scans.SCAN_BALANCES.format(scope=scope.DIRTY_MOVEMENTS), params)
    return scope.DIRTY_DECISIONS


def _scan_events(cursor, params: dict[str, Any], where: str) -> None:
    cursor.execute(scans.SCAN_EVENTS.format(scope=where), params)
    # Statistics before the events are joined to themselves (planned blind, the join of 528,639
    # cancels with 1.25M payments at 10M was a merge join over two sorts).
    cursor.execute("ANALYZE elig_event")
    cursor.execute(scans.EVENTS_EARLIER_PAYMENTS, params)
    # The reinstatements are looked up by request id (our instructions' echoes); the rest is joined
    # whole, by hash.
    cursor.execute("CREATE INDEX ON elig_event (request_id) WHERE kind = 'reinstatement'")
