"""The eligibility engine: find every coupon the outage hurt, in every group, from the ledger.

The rules are DOMAIN.md's "How the portal decides", with every date and number read from the
:class:`~claims.models.Incident`. Everything is set-based in PostgreSQL: the ledger is read in two
scans into temporary tables (balances at the three cut-offs per coupon; the outage's payments with
every cancel and reinstatement), and each group is one ``INSERT ... SELECT``.

A run is full or incremental. A full run reads the whole ledger. An incremental run (given the
:class:`Checkpoint` of the previous run) re-decides only the coupons whose data changed since, as
the importer notes them in ``coupons_ledgerchange``: the coupons with new movements, those paid
during the outage at a store with new till records around it, and those with a decision still
waiting for its final balance or its reinstatement's echo. Anything that could change a decision
for every coupon at once — a bulk load, another rule on the incident, the clock passing a cut-off —
makes the run a full one. Since every rule is per coupon, the two end in the same rows (a property
test holds them to it).

A run is one transaction under an advisory lock: killed half-way it leaves nothing, run again (or
twice) it ends with the same rows. A decision is inserted once (``ON CONFLICT DO NOTHING`` on the
unique coupon-and-group) and never rewritten by a later run: a person's decision (an agent's
rejection, a confirmation) stands. When later data contradicts a decision, the run only flags it
``needs_review`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from claims.models import Incident
from coupons.services.ledger_changes import CURRENT_SNAPSHOT, NOT_SEEN

JST = ZoneInfo("Asia/Tokyo")

# pg_advisory_xact_lock key space: one eligibility run per incident at a time.
ADVISORY_LOCK = 0x5245_4749  # "REGI"

Progress = Callable[[str, int, int], None]  # (step, done, total)

STEPS = ("scan", "1-1", "1-2", "2-2", "2-1", "review", "final", "applied")

# Which of a coupon's entitlements carries its final balance when several were extended: the
# coupon is paid once, and the others are "covered" by it.
CATEGORY_ORDER = "array_position(ARRAY['1-1', '1-2', '2-1', '2-2', 'other']::text[], e.category::text)"


@dataclass(frozen=True)
class Checkpoint:
    """What a run had seen: the transactions committed when it began (``snapshot``, a
    ``pg_snapshot``; every one below ``xact`` had ended); the groups (and the final balance) its
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


@dataclass
class RunSummary:
    mode: str = "full"
    coupons: int | None = None  # the coupons an incremental run re-decided
    created: dict[str, int] = field(default_factory=dict)
    flagged_for_review: int = 0
    final_balances_recorded: int = 0
    instructions_applied: int = 0
    checkpoint: Checkpoint | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "coupons": self.coupons,
            "created": self.created,
            "flagged_for_review": self.flagged_for_review,
            "final_balances_recorded": self.final_balances_recorded,
            "instructions_applied": self.instructions_applied,
        }


def _params(incident: Incident, as_of: dt.datetime) -> dict[str, Any]:
    return {
        "incident": incident.pk,
        "prefix": incident.code,
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
    final balances. A run decides what is open; a run is due when this changes."""
    instants = (
        ("1-2", incident.group_1_2_cutoff_at),
        ("1-1", incident.group_1_1_cutoff_at),
        ("2-x", incident.outage_end),
        ("final", incident.final_balance_at),
    )
    return tuple(name for name, at in instants if as_of >= at)


def _rules_digest(params: dict[str, Any]) -> str:
    rules = {k: v for k, v in params.items() if k not in {"now", "when"}}
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- which coupons an incremental run re-decides ------------------------------------------------
# Beyond this many changed coupons a full run (two scans of the ledger) costs less than looking
# each one up through the coupon index.
INCREMENTAL_MAX = 100_000

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
    # Decisions waiting for their final balance (an agent's confirmation after the final instant)
    # or for the echo of a reinstatement.
    """
    INSERT INTO elig_dirty
    SELECT e.inquiry_number FROM claims_entitlement e
    WHERE e.incident_id = %(incident)s AND e.status = 'extended' AND e.final_balance_yen IS NULL
      AND %(now)s >= %(final)s
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

# Restricts a scan of the ledger to the coupons re-decided (a nested loop over its coupon index).
DIRTY_MOVEMENTS = "m.inquiry_number IN (SELECT inquiry_number FROM elig_dirty)"
# The same for the decisions, as an array: with the semi-join the planner joined all of them first
# and filtered last (3.3 s instead of 0.05 s for 5,000 coupons of 822,892 decisions).
DIRTY_DECISIONS = "e.inquiry_number = ANY(%(dirty)s::text[])"


# --- the two scans of the ledger ---------------------------------------------------------------
SCAN_BALANCES = """
CREATE TEMP TABLE elig_balance ON COMMIT DROP AS
SELECT m.inquiry_number,
       coalesce(sum(m.amount_yen) FILTER (WHERE m.occurred_at < %(c12)s), 0) AS at_1_2,
       coalesce(sum(m.amount_yen) FILTER (WHERE m.occurred_at < %(c11)s), 0) AS at_1_1,
       coalesce(sum(m.amount_yen) FILTER (WHERE m.occurred_at < %(final)s), 0) AS at_final
FROM coupons_couponmovement m
WHERE {scope}
GROUP BY m.inquiry_number
"""

SCAN_EVENTS = """
CREATE TEMP TABLE elig_event ON COMMIT DROP AS
SELECT m.movement_id, m.inquiry_number, m.kind, m.amount_yen, m.occurred_at, m.store_id, m.request_id
FROM coupons_couponmovement m
WHERE ((m.kind = 'payment' AND m.occurred_at >= %(start)s AND m.occurred_at < %(end)s)
       OR m.kind IN ('cancel', 'reinstatement'))
  AND {scope}
"""

# Payments inside the outage window that no cancel carrying their request_id reversed.
PAYMENTS = """
SELECT p.movement_id, p.inquiry_number, p.store_id, -p.amount_yen AS amount, p.occurred_at
FROM elig_event p
WHERE p.kind = 'payment'
  AND NOT EXISTS (
    SELECT 1 FROM elig_event x
    WHERE x.kind = 'cancel' AND x.inquiry_number = p.inquiry_number
      AND p.request_id <> '' AND x.request_id = p.request_id)
"""

# 2-2: same coupon, same store, same amount, each within the gap of the previous one; every
# payment after the first of such a run is a suspected duplicate.
CANDIDATES_2_2 = f"""
CREATE TEMP TABLE elig_2_2 ON COMMIT DROP AS
WITH pay AS ({PAYMENTS}),
seq AS (
  SELECT pay.*,
         lag(occurred_at) OVER w AS previous_at,
         lag(movement_id) OVER w AS previous_id
  FROM pay
  WINDOW w AS (PARTITION BY inquiry_number, store_id, amount ORDER BY occurred_at, movement_id)
),
duplicate AS (
  SELECT * FROM seq
  WHERE previous_at IS NOT NULL AND occurred_at - previous_at <= make_interval(secs => %(gap)s)
),
evidence AS (
  SELECT inquiry_number, array_agg(DISTINCT id ORDER BY id) AS movement_ids
  FROM duplicate, unnest(ARRAY[previous_id, movement_id]) AS id
  GROUP BY inquiry_number
)
SELECT d.inquiry_number, sum(d.amount) AS amount_yen,
       jsonb_build_object('movement_ids', to_jsonb(e.movement_ids),
                          'duplicate_movement_ids', to_jsonb(array_agg(d.movement_id ORDER BY d.movement_id)))
         AS evidence
FROM duplicate d JOIN evidence e USING (inquiry_number)
GROUP BY d.inquiry_number, e.movement_ids
"""

# 2-1: the till recorded a non-coupon sale of the same amount within the window of the payment,
# and no coupon sale of that amount.
CANDIDATES_2_1 = f"""
CREATE TEMP TABLE elig_2_1 ON COMMIT DROP AS
WITH pay AS ({PAYMENTS}),
hit AS (
  SELECT p.inquiry_number, p.movement_id, p.amount, till.receipts
  FROM pay p
  CROSS JOIN LATERAL (
    -- One look at the store's till around the payment (index store, amount, time).
    SELECT array_agg(s.receipt_number ORDER BY s.occurred_at, s.receipt_number)
             FILTER (WHERE s.tender <> 'coupon') AS receipts,
           coalesce(bool_or(s.tender = 'coupon'), false) AS coupon_sale
    FROM coupons_storesale s
    WHERE s.store_id = p.store_id AND s.amount_yen = p.amount
      AND s.occurred_at BETWEEN p.occurred_at - make_interval(secs => %(till)s)
                            AND p.occurred_at + make_interval(secs => %(till)s)
  ) AS till
  WHERE till.receipts IS NOT NULL AND NOT till.coupon_sale
),
receipts AS (
  SELECT inquiry_number, array_agg(DISTINCT receipt ORDER BY receipt) AS receipt_numbers
  FROM hit, unnest(hit.receipts) AS receipt
  GROUP BY inquiry_number
)
SELECT h.inquiry_number, sum(h.amount) AS amount_yen,
       jsonb_build_object('movement_ids', to_jsonb(array_agg(h.movement_id ORDER BY h.movement_id)),
                          'receipt_numbers', to_jsonb(r.receipt_numbers)) AS evidence
FROM hit h JOIN receipts r USING (inquiry_number)
GROUP BY h.inquiry_number, r.receipt_numbers
"""

# --- decisions -----------------------------------------------------------------------------------
# The receipt-site URL goes by SMS (to a mobile number only: 060/070/080/090) or e-mail; an app
# account with only a landline has nowhere to send it, so its traveller must apply.
APP_ROUTE = (
    "CASE WHEN c.app_account_id <> '' AND c.app_withdrawn_at IS NULL "
    "AND (c.app_phone ~ '^\\+81[6789]0' OR c.app_email <> '') THEN 'app' ELSE 'application' END"
)


def _insert_entitlements(select_sql: str, *, extended: bool, category: str) -> str:
    """INSERT the selected (inquiry_number, route, cutoff_at, amount_yen, evidence) rows as new
    entitlements, with their history and, when extended automatically, the extension instruction."""
    status = "extended" if extended else "found"
    history = "SELECT id, '', 'found', '判定エンジン' FROM found"
    if extended:
        history += f" UNION ALL SELECT id, 'found', 'extended', '{category}: 自動延長' FROM found"
    instruction = (
        f"""INSERT INTO claims_instruction
              (instruction_id, entitlement_id, action, valid_until, amount_yen, decided_at, applied_at,
               applied_movement_id)
            SELECT %(prefix)s || ':{category}:extend:' || inquiry_number, id, 'extend_validity',
                   valid_until, NULL, %(now)s, NULL, ''
            FROM found
            ON CONFLICT DO NOTHING"""
        if extended
        else "SELECT 1"
    )
    return f"""
    WITH candidate AS ({select_sql}),
    found AS (
      INSERT INTO claims_entitlement
        (incident_id, inquiry_number, category, route, status, cutoff_at, amount_yen, valid_until,
         final_balance_yen, evidence, needs_review, review_note, found_at)
      SELECT %(incident)s, inquiry_number, '{category}', route, '{status}', cutoff_at, amount_yen,
             {"%(ext)s" if extended else "NULL"}, NULL, evidence, false, '', %(now)s
      FROM candidate
      ON CONFLICT (incident_id, inquiry_number, category) DO NOTHING
      RETURNING id, inquiry_number, valid_until
    ),
    history AS (
      INSERT INTO claims_entitlementstatuschange (entitlement_id, from_status, to_status, note, at)
      SELECT h.id, h.from_status, h.to_status, h.note, %(now)s
      FROM ({history}) AS h (id, from_status, to_status, note)
      RETURNING 1
    ),
    instructed AS ({instruction})
    SELECT (SELECT count(*) FROM found)
    """


SELECT_1_1 = f"""
SELECT c.inquiry_number, {APP_ROUTE} AS route, %(c11)s::timestamptz AS cutoff_at,
       b.at_1_1 AS amount_yen, '{{}}'::jsonb AS evidence
FROM coupons_coupon c JOIN elig_balance b USING (inquiry_number)
WHERE c.expires_on = %(d11)s AND b.at_1_1 >= 1
"""

SELECT_1_2 = """
SELECT c.inquiry_number, 'callcenter' AS route, %(c12)s::timestamptz AS cutoff_at,
       b.at_1_2 AS amount_yen, '{}'::jsonb AS evidence
FROM coupons_coupon c JOIN elig_balance b USING (inquiry_number)
WHERE c.expires_on = %(d12)s AND b.at_1_2 >= 1
"""

SELECT_2_X = """
SELECT inquiry_number, 'callcenter' AS route, NULL::timestamptz AS cutoff_at, amount_yen, evidence
FROM {table}
"""

# Later data contradicts an earlier decision: flag it, never change it.
REVIEW = """
WITH current AS (
  SELECT e.id, e.amount_yen AS recorded,
         CASE e.category
           WHEN '1-1' THEN coalesce(b.at_1_1, 0)
           WHEN '1-2' THEN coalesce(b.at_1_2, 0)
           WHEN '2-1' THEN coalesce(c21.amount_yen, 0)
           WHEN '2-2' THEN coalesce(c22.amount_yen, 0)
         END AS amount_now
  FROM claims_entitlement e
  LEFT JOIN elig_balance b ON b.inquiry_number = e.inquiry_number AND e.category IN ('1-1', '1-2')
  LEFT JOIN elig_2_1 c21 ON c21.inquiry_number = e.inquiry_number AND e.category = '2-1'
  LEFT JOIN elig_2_2 c22 ON c22.inquiry_number = e.inquiry_number AND e.category = '2-2'
  WHERE e.incident_id = %(incident)s AND e.category <> 'other' AND NOT e.needs_review AND {scope}
),
final AS (
  SELECT e.id, e.final_balance_yen AS recorded, greatest(coalesce(b.at_final, 0), 0) AS final_now
  FROM claims_entitlement e LEFT JOIN elig_balance b ON b.inquiry_number = e.inquiry_number
  WHERE e.incident_id = %(incident)s AND e.final_balance_yen IS NOT NULL AND NOT e.needs_review
    AND {scope}
),
changed AS (
  SELECT id, format('%%s 時点の判定で金額が %%s 円になりました（記録は %%s 円）。', %(when)s,
                    amount_now, recorded) AS note
  FROM current
  WHERE amount_now <> recorded
  UNION ALL
  SELECT id, format('%%s 時点の判定で最終残高が %%s 円になりました（記録は %%s 円）。', %(when)s,
                    final_now, recorded)
  FROM final
  WHERE final_now <> recorded
),
notes AS (SELECT id, string_agg(note, ' ') AS note FROM changed GROUP BY id)
UPDATE claims_entitlement e
SET needs_review = true, review_note = notes.note
FROM notes
WHERE e.id = notes.id
"""

# Once the clock passes the final-balance instant: each extended coupon's balance then is what
# will be paid, once per coupon (its first entitlement by group carries it; the others are covered).
FINAL = f"""
WITH ranked AS (
  SELECT e.id, coalesce(b.at_final, 0) AS balance_yen,
         row_number() OVER (PARTITION BY e.inquiry_number ORDER BY {CATEGORY_ORDER})
           -- a coupon whose balance an earlier run already gave to one of its entitlements is covered
           + CASE WHEN EXISTS (
               SELECT 1 FROM claims_entitlement o
               WHERE o.incident_id = e.incident_id AND o.inquiry_number = e.inquiry_number
                 AND o.final_balance_yen IS NOT NULL AND o.status <> 'covered') THEN 1 ELSE 0 END
           AS rank
  FROM claims_entitlement e LEFT JOIN elig_balance b ON b.inquiry_number = e.inquiry_number
  WHERE e.incident_id = %(incident)s AND e.status = 'extended' AND e.final_balance_yen IS NULL
    AND {{scope}}
),
done AS (
  -- A balance below zero (an adjustment took more than was left) pays nothing and needs a look.
  UPDATE claims_entitlement e
  SET final_balance_yen = CASE WHEN r.rank > 1 THEN NULL ELSE greatest(r.balance_yen, 0) END,
      status = CASE WHEN r.rank > 1 THEN 'covered' WHEN r.balance_yen > 0 THEN 'payable' ELSE 'used_up' END,
      needs_review = e.needs_review OR r.balance_yen < 0,
      review_note = CASE WHEN r.balance_yen < 0
                         THEN concat_ws(' ', nullif(e.review_note, ''),
                                        format('最終残高が %%s 円（マイナス）でした。', r.balance_yen))
                         ELSE e.review_note END
  FROM ranked r
  WHERE e.id = r.id
  RETURNING e.id, e.status
),
history AS (
  INSERT INTO claims_entitlementstatuschange (entitlement_id, from_status, to_status, note, at)
  SELECT id, 'extended', status, '最終残高を記録', %(now)s FROM done
  RETURNING 1
)
SELECT count(*) FROM done
"""

APPLIED = """
UPDATE claims_instruction i
SET applied_at = e.occurred_at, applied_movement_id = e.movement_id
FROM elig_event e, claims_entitlement decided
WHERE e.kind = 'reinstatement' AND e.request_id = i.instruction_id AND i.applied_at IS NULL
  AND i.action = 'reinstate' AND decided.id = i.entitlement_id
  AND decided.inquiry_number = e.inquiry_number  -- echoed on the coupon it was meant for
"""


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

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK, incident.pk])
        # Before reading anything: the transactions this run is sure to see.
        cursor.execute(CURRENT_SNAPSHOT)
        xact, snapshot = cursor.fetchone()
        opened = gates(incident, as_of)
        summary.checkpoint = Checkpoint(
            xact=xact, snapshot=snapshot, gates=",".join(opened), rules=_rules_digest(params)
        )
        cursor.execute("SET LOCAL work_mem = '256MB'")
        for table in ("elig_dirty", "elig_balance", "elig_event", "elig_2_1", "elig_2_2"):
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        step("scan")
        dirty = (
            _dirty_coupons(cursor, {**params, **_since(since)})
            if since is not None and _can_be_incremental(cursor, since, summary.checkpoint)
            else None
        )
        incremental = dirty is not None and len(dirty) <= INCREMENTAL_MAX
        if dirty is not None and incremental:
            summary.mode = "incremental"
            params["dirty"] = dirty
            summary.coupons = len(dirty)
            scope = {"ledger": DIRTY_MOVEMENTS, "decisions": DIRTY_DECISIONS}
        else:
            scope = {"ledger": "true", "decisions": "true"}
        cursor.execute(SCAN_BALANCES.format(scope=scope["ledger"]), params)
        cursor.execute(SCAN_EVENTS.format(scope=scope["ledger"]), params)
        cursor.execute("CREATE INDEX ON elig_event (inquiry_number, request_id)")
        cursor.execute("ANALYZE elig_event")
        cursor.execute(CANDIDATES_2_2, params)
        cursor.execute(CANDIDATES_2_1, params)
        for table in ("elig_balance", "elig_event", "elig_2_1", "elig_2_2"):
            cursor.execute(f"ANALYZE {table}")  # temporary tables have no statistics until asked
        # A group is decided only once its facts are final (see ``gates``).
        groups = (
            ("1-1", SELECT_1_1, True, "1-1"),
            ("1-2", SELECT_1_2, False, "1-2"),
            ("2-2", SELECT_2_X.format(table="elig_2_2"), False, "2-x"),
            ("2-1", SELECT_2_X.format(table="elig_2_1"), False, "2-x"),
        )
        for name, select_sql, extended, gate in groups:
            step(name)
            summary.created[name] = 0
            if gate in opened:
                cursor.execute(_insert_entitlements(select_sql, extended=extended, category=name), params)
                summary.created[name] = cursor.fetchone()[0]
        step("review")
        cursor.execute(REVIEW.format(scope=scope["decisions"]), params)
        summary.flagged_for_review = cursor.rowcount
        step("final")
        if "final" in opened:
            cursor.execute(FINAL.format(scope=scope["decisions"]), params)
            summary.final_balances_recorded = cursor.fetchone()[0]
        step("applied")
        cursor.execute(APPLIED, params)
        summary.instructions_applied = cursor.rowcount
        if not incremental:
            # A full run may have written most of the decisions: fresh statistics keep the plans of
            # the incremental runs that follow on their indexes (autovacuum would come later).
            cursor.execute("ANALYZE claims_entitlement, claims_instruction")
    return summary


def _can_be_incremental(cursor, since: Checkpoint, now: Checkpoint) -> bool:
    """Only the data changed since ``since``, coupon by coupon: same rules, same gates, no bulk load."""
    if since.gates != now.gates or since.rules != now.rules:
        return False
    cursor.execute(BULK_CHANGE_SINCE, _since(since))
    return not cursor.fetchone()[0]


def _since(checkpoint: Checkpoint) -> dict[str, object]:
    return {"since": checkpoint.xact, "snapshot": checkpoint.snapshot}


def _dirty_coupons(cursor, params: dict[str, Any]) -> list[str]:
    """Fill ``elig_dirty`` with the coupons to re-decide; return them."""
    cursor.execute(DIRTY_TABLE)
    for sql in DIRTY_COUPONS:
        cursor.execute(sql, params)
    cursor.execute(DIRTY_STORES, params)
    stores = [row[0] for row in cursor.fetchall()]
    if stores:  # rare after the outage day: this one scans the outage's payments
        cursor.execute(DIRTY_BY_STORE, {**params, "stores": stores})
    cursor.execute("ANALYZE elig_dirty")
    cursor.execute("SELECT inquiry_number FROM elig_dirty")
    return [row[0] for row in cursor.fetchall()]
