"""Incremental scope: which coupons a run re-decides, from the change log since a checkpoint.

A full run reads the whole ledger. An incremental run (given the :class:`Checkpoint` of the
previous run) re-decides only the coupons whose data changed since, as the importer notes them in
``coupons_ledgerchange``: the coupons with new movements, those paid during the outage at a store
with new till records around it, and those with a decision still waiting for its final amount or
its reinstatement's echo. Anything that could change a decision for every coupon at once — a bulk
load, another rule on the incident, the clock passing a cut-off — makes the run a full one.

One rule is not per coupon: 2-1 pairs a store's till receipts with the payments of every coupon
paid there, in time order. When the changes reach the outage (a changed coupon paid during it,
or a store's till around it), the run walks the whole outage's payments again (a slice of the
ledger: one evening) and adds every coupon whose 2-x reading differs from its decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coupons.services.ledger_changes import NOT_SEEN

# Beyond this many changed coupons a full run (two scans of the ledger) costs less than looking
# each one up through the coupon index.
INCREMENTAL_MAX = 100_000


@dataclass(frozen=True)
class Checkpoint:
    """What a run had seen: the transactions committed when it began (``snapshot``, a
    ``pg_snapshot``; every one below ``xact`` had ended); the groups (and the final amounts) its
    clock had opened; a digest of the incident's rules."""

    xact: int
    snapshot: str
    gates: str
    rules: str

    def as_dict(self) -> dict[str, object]:
        return {"xact": self.xact, "snapshot": self.snapshot, "gates": self.gates, "rules": self.rules}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint | None:
        try:
            return cls(
                xact=int(data["xact"]),
                snapshot=str(data["snapshot"]),
                gates=str(data["gates"]),
                rules=str(data["rules"]),
            )
        except (KeyError, TypeError, ValueError):
            return None  # an older run's: the next run is a full one


DIRTY_TABLE = 'CREATE TEMP TABLE elig_dirty (inquiry_number text COLLATE "C" PRIMARY KEY) ON COMMIT DROP'

BULK_CHANGE_SINCE = f"""
SELECT EXISTS (SELECT 1 FROM coupons_ledgerchange WHERE {NOT_SEEN} AND scope = 'all')
"""

DIRTY_COUPONS = [
    # New movements.
    f"""
    INSERT INTO elig_dirty
    SELECT DISTINCT key FROM coupons_ledgerchange WHERE {NOT_SEEN} AND scope = 'coupon'
    ON CONFLICT DO NOTHING
    """,
    # Decisions waiting for their final amount (an agent's confirmation after the final instant;
    # not while a flag holds them: the flag's resolution makes them wait again) or for the echo
    # of a reinstatement. (A flag clears when its coupon's data changes — dirty then — or, for
    # 2-x, when the outage is walked again: see DIRTY_BY_DEDUCTIONS.)
    """
    INSERT INTO elig_dirty
    SELECT e.inquiry_number FROM claims_entitlement e
    WHERE e.incident_id = %(incident)s AND e.status = 'extended' AND e.final_balance_yen IS NULL
      AND NOT e.needs_review AND %(now)s >= %(final)s
    UNION
    SELECT e.inquiry_number
    FROM claims_instruction i JOIN claims_entitlement e ON e.id = i.entitlement_id
    WHERE e.incident_id = %(incident)s AND i.action = 'reinstate' AND i.applied_at IS NULL
    ON CONFLICT DO NOTHING
    """,
]

# New till records near the outage: the coupons paid at those stores during it (2-1 evidence).
DIRTY_STORES = f"""
SELECT DISTINCT key FROM coupons_ledgerchange
WHERE {NOT_SEEN} AND scope = 'store'
  AND first_at <= %(end)s + make_interval(secs => %(till)s)
  AND last_at >= %(start)s - make_interval(secs => %(till)s)
"""

DIRTY_BY_STORE = """
INSERT INTO elig_dirty
SELECT DISTINCT m.inquiry_number FROM coupons_couponmovement m
WHERE m.kind = 'payment' AND m.occurred_at >= %(start)s AND m.occurred_at < %(end)s
  AND m.store_id = ANY(%(stores)s)
ON CONFLICT DO NOTHING
"""

# After the whole outage was walked again: the coupons whose 2-x reading differs from their
# decisions (another coupon's payment or a store's till can move a receipt from one to another).
DIRTY_BY_DEDUCTIONS = """
INSERT INTO elig_dirty
SELECT x.inquiry_number FROM (
  SELECT inquiry_number, '2-1' AS category, amount_yen, evidence FROM elig_2_1
  UNION ALL SELECT inquiry_number, '2-2', amount_yen, evidence FROM elig_2_2
) x
LEFT JOIN claims_entitlement e
  ON e.incident_id = %(incident)s AND e.inquiry_number = x.inquiry_number AND e.category = x.category
WHERE e.id IS NULL OR e.amount_yen <> x.amount_yen OR e.evidence <> x.evidence OR e.status = 'withdrawn'
   OR e.needs_review
UNION
SELECT e.inquiry_number FROM claims_entitlement e
WHERE e.incident_id = %(incident)s AND e.category IN ('2-1', '2-2') AND e.needs_review
UNION
SELECT e.inquiry_number FROM claims_entitlement e
WHERE e.incident_id = %(incident)s AND e.category IN ('2-1', '2-2')
  AND e.status NOT IN ('rejected', 'withdrawn')
  AND NOT EXISTS (SELECT 1 FROM elig_2_1 x WHERE x.inquiry_number = e.inquiry_number AND e.category = '2-1')
  AND NOT EXISTS (SELECT 1 FROM elig_2_2 x WHERE x.inquiry_number = e.inquiry_number AND e.category = '2-2')
ON CONFLICT DO NOTHING
"""

# Whether the changed coupons reach the outage: then 2-1's pairing must be walked whole.
REACHES_OUTAGE = "SELECT EXISTS (SELECT 1 FROM elig_event WHERE in_outage)"

# Restricts a scan of the ledger to the coupons re-decided (a nested loop over its coupon index).
DIRTY_MOVEMENTS = "m.inquiry_number IN (SELECT inquiry_number FROM elig_dirty)"
# The same for the decisions, as an array: with the semi-join the planner joined all of them first
# and filtered last (3.3 s instead of 0.05 s for 5,000 coupons of 822,892 decisions).
DIRTY_DECISIONS = "e.inquiry_number = ANY(%(dirty)s::text[])"


def since_params(checkpoint: Checkpoint) -> dict[str, object]:
    return {"since": checkpoint.xact, "snapshot": checkpoint.snapshot}


def can_be_incremental(cursor, since: Checkpoint, now: Checkpoint) -> bool:
    """Only the data changed since ``since``, coupon by coupon: same rules, same gates, no bulk load."""
    if since.gates != now.gates or since.rules != now.rules:
        return False
    cursor.execute(BULK_CHANGE_SINCE, since_params(since))
    return not cursor.fetchone()[0]


def dirty_coupons(cursor, params: dict[str, Any]) -> tuple[list[str], bool]:
    """Fill ``elig_dirty`` with the coupons to re-decide; return them, and whether stores' till
    records around the outage changed."""
    cursor.execute(DIRTY_TABLE)
    for sql in DIRTY_COUPONS:
        cursor.execute(sql, params)
    cursor.execute(DIRTY_STORES, params)
    stores = [row[0] for row in cursor.fetchall()]
    if stores:  # rare after the outage day: this one scans the outage's payments
        cursor.execute(DIRTY_BY_STORE, {**params, "stores": stores})
    return dirty_list(cursor), bool(stores)


def dirty_list(cursor) -> list[str]:
    cursor.execute("ANALYZE elig_dirty")
    cursor.execute("SELECT inquiry_number FROM elig_dirty")
    return [row[0] for row in cursor.fetchall()]
