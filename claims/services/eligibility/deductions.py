"""2-x: the deductions the outage got wrong (DOMAIN.md "Reversed by a cancel", 2-2, 2-1, "A
deduction is compensated once").

These rules pair records one to one, in time order, greedily — a cancel with the payment it
reverses, a till receipt with the payment it evidences — which is a walk through sorted records,
not a set operation. So the run reads the outage's payments (and the cancels and till receipts
that could pair with them: a small slice of the ledger, one evening) out of its temporary tables,
walks them here, and writes the candidates back into ``elig_2_2`` and ``elig_2_1`` for the SQL
that decides. Read top to bottom: cancels, then 2-2 chains, then the 2-1 pairing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

NON_COUPON_TENDERS = frozenset({"cash", "card", "qr", "other"})


@dataclass(frozen=True)
class Payment:
    movement_id: str
    inquiry_number: str
    store_id: str | None
    amount: int  # positive: what the payment deducted
    occurred_at: dt.datetime
    request_id: str
    in_outage: bool

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return (self.occurred_at, self.movement_id)


@dataclass(frozen=True)
class Cancel:
    movement_id: str
    inquiry_number: str
    amount: int  # positive: what the cancel gave back
    occurred_at: dt.datetime
    request_id: str


@dataclass(frozen=True)
class Receipt:
    store_id: str
    receipt_number: str
    occurred_at: dt.datetime
    amount: int
    tender: str


@dataclass
class Candidate:
    amount_yen: int = 0
    evidence: dict[str, list[str]] = field(default_factory=dict)


# --- reversed by a cancel --------------------------------------------------------------------------
def reversed_payments(payments: list[Payment], cancels: list[Cancel]) -> set[str]:
    """Each cancel, earliest first (then lower movement id), reverses the earliest payment not yet
    reversed of the same coupon with its request id and amount, at or before the cancel's own time
    (ties: lower movement id). A cancel that finds none reverses none; a cancel without a request
    id matches nothing."""
    waiting: dict[tuple[str, str, int], list[Payment]] = defaultdict(list)
    for p in payments:
        if p.request_id:
            waiting[(p.inquiry_number, p.request_id, p.amount)].append(p)
    for queue in waiting.values():
        queue.sort(key=lambda p: p.order)
    reversed_ids: set[str] = set()
    for c in sorted(cancels, key=lambda c: (c.occurred_at, c.movement_id)):
        queue = waiting.get((c.inquiry_number, c.request_id, c.amount), []) if c.request_id else []
        if queue and queue[0].occurred_at <= c.occurred_at:
            reversed_ids.add(queue.pop(0).movement_id)
    return reversed_ids


# --- 2-2: duplicates -------------------------------------------------------------------------------
def duplicates(standing: list[Payment], gap: dt.timedelta) -> tuple[dict[str, Candidate], set[str]]:
    """Chains of one coupon, store and amount, each payment within ``gap`` of the previous standing
    one: every payment after a chain's first is a suspected duplicate. Returns the candidates per
    coupon (evidence: the chains' payments, and which of them are the duplicates) and the
    duplicates' movement ids (2-1 does not consider them)."""
    chains: dict[tuple[str, str | None, int], list[Payment]] = defaultdict(list)
    for p in standing:
        chains[(p.inquiry_number, p.store_id, p.amount)].append(p)
    candidates: dict[str, Candidate] = {}
    taken: set[str] = set()
    for (inquiry_number, _store, _amount), chain in chains.items():
        chain.sort(key=lambda p: p.order)
        for previous, current in itertools.pairwise(chain):
            if current.occurred_at - previous.occurred_at <= gap:
                candidate = candidates.setdefault(
                    inquiry_number, Candidate(evidence={"movement_ids": [], "duplicate_movement_ids": []})
                )
                candidate.amount_yen += current.amount
                candidate.evidence["movement_ids"] += [previous.movement_id, current.movement_id]
                candidate.evidence["duplicate_movement_ids"].append(current.movement_id)
                taken.add(current.movement_id)
    for candidate in candidates.values():
        for key, ids in candidate.evidence.items():
            candidate.evidence[key] = sorted(set(ids))
    return candidates, taken


# --- 2-1: paid otherwise too ------------------------------------------------------------------------
def paid_otherwise(
    payments: list[Payment], receipts: list[Receipt], window: dt.timedelta
) -> dict[str, Candidate]:
    """Each payment that could be 2-1 (standing, in the outage, in scope, not a duplicate), earliest
    first (then lower movement id), takes the nearest unused non-coupon receipt of its store and
    amount within ``window`` (a tie: the earlier receipt, then the lower receipt number) — unless a
    coupon sale of that amount lies within the window (a veto, never used up). A receipt
    evidences one payment only."""
    by_store: dict[tuple[str, int], list[Receipt]] = defaultdict(list)
    for r in receipts:
        by_store[(r.store_id, r.amount)].append(r)
    times: dict[tuple[str, int], list[dt.datetime]] = {}
    for key, till in by_store.items():
        till.sort(key=lambda r: r.occurred_at)
        times[key] = [r.occurred_at for r in till]
    used: set[tuple[str, str]] = set()
    candidates: dict[str, Candidate] = {}
    for p in sorted(payments, key=lambda p: p.order):
        key = (p.store_id or "", p.amount)
        if p.store_id is None or key not in by_store:
            continue
        # The till's records of this amount within the window, found by bisection (a busy store
        # has thousands of receipts of a common amount in one evening).
        first = bisect.bisect_left(times[key], p.occurred_at - window)
        last = bisect.bisect_right(times[key], p.occurred_at + window)
        near = by_store[key][first:last]
        if any(r.tender == "coupon" for r in near):
            continue
        free = [
            r for r in near if r.tender in NON_COUPON_TENDERS and (r.store_id, r.receipt_number) not in used
        ]
        if not free:
            continue
        taken = min(free, key=lambda r: (abs(r.occurred_at - p.occurred_at), r.occurred_at, r.receipt_number))
        used.add((taken.store_id, taken.receipt_number))
        candidate = candidates.setdefault(
            p.inquiry_number, Candidate(evidence={"movement_ids": [], "receipt_numbers": []})
        )
        candidate.amount_yen += p.amount
        candidate.evidence["movement_ids"].append(p.movement_id)
        candidate.evidence["receipt_numbers"].append(taken.receipt_number)
    for candidate in candidates.values():
        for name, ids in candidate.evidence.items():
            candidate.evidence[name] = sorted(ids)
    return candidates


# --- reading and writing the run's tables --------------------------------------------------------------
# The outage's payments and every cancel of the coupons in scope, as ``elig_event`` holds them
# (with the payments outside the window that a cancel of an outage payment could reach first).
EVENTS = """
SELECT movement_id, inquiry_number, kind, amount_yen, occurred_at, store_id, request_id, in_outage
FROM elig_event WHERE kind IN ('payment', 'cancel')
"""

# Till receipts that could pair with an outage payment: its store and amount, within the window.
RECEIPTS = """
SELECT s.store_id, s.receipt_number, s.occurred_at, s.amount_yen, s.tender
FROM coupons_storesale s
JOIN (SELECT DISTINCT store_id, -amount_yen AS amount FROM elig_event
      WHERE kind = 'payment' AND in_outage AND store_id IS NOT NULL) p
  ON p.store_id = s.store_id AND p.amount = s.amount_yen
WHERE s.occurred_at BETWEEN %(start)s - make_interval(secs => %(till)s)
                        AND %(end)s + make_interval(secs => %(till)s)
"""

CANDIDATE_TABLE = """
CREATE TEMP TABLE {table} (
  inquiry_number text COLLATE "C" PRIMARY KEY, amount_yen bigint NOT NULL, evidence jsonb NOT NULL
) ON COMMIT DROP
"""

INSERT_CANDIDATES = """
INSERT INTO {table} (inquiry_number, amount_yen, evidence)
SELECT * FROM unnest(%(numbers)s::text[], %(amounts)s::bigint[], %(evidence)s::jsonb[])
"""


def deductions_decide(cursor, params: dict[str, Any]) -> None:
    """Fill ``elig_2_2`` and ``elig_2_1`` from ``elig_event`` (see the module doc)."""
    cursor.execute(EVENTS)
    payments, cancels = [], []
    for movement_id, inquiry_number, kind, amount_yen, occurred_at, store_id, request_id, in_outage in cursor:
        if kind == "payment":
            payments.append(
                Payment(
                    movement_id, inquiry_number, store_id, -amount_yen, occurred_at, request_id, in_outage
                )
            )
        else:
            cancels.append(Cancel(movement_id, inquiry_number, amount_yen, occurred_at, request_id))
    gone = reversed_payments(payments, cancels)
    standing = [p for p in payments if p.in_outage and p.movement_id not in gone]
    found_2_2, taken = duplicates(standing, dt.timedelta(seconds=int(params["gap"])))
    cursor.execute(RECEIPTS, params)
    receipts = [Receipt(*row) for row in cursor.fetchall()]
    found_2_1 = paid_otherwise(
        [p for p in standing if p.movement_id not in taken],
        receipts,
        dt.timedelta(seconds=int(params["till"])),
    )
    for table, found in (("elig_2_2", found_2_2), ("elig_2_1", found_2_1)):
        cursor.execute(CANDIDATE_TABLE.format(table=table))
        numbers = sorted(found)
        cursor.execute(
            INSERT_CANDIDATES.format(table=table),
            {
                "numbers": numbers,
                "amounts": [found[n].amount_yen for n in numbers],
                "evidence": [json.dumps(found[n].evidence) for n in numbers],
            },
        )
