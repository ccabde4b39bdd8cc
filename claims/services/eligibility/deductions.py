"""2-x: the deductions the outage got wrong (DOMAIN.md "Reversed by a cancel", 2-2, 2-1, "A
deduction is compensated once").

These rules pair records one to one, in time order, greedily — a cancel with the payment it
reverses, a till receipt with the payment it evidences — which is a walk through sorted records,
not a set operation. So the run reads the outage's payments (and the cancels and till receipts
that could pair with them: a small slice of the ledger, one evening) out of its temporary tables,
walks them here, and writes the candidates back into ``elig_2_2`` and ``elig_2_1`` for the SQL
that decides. Read top to bottom: cancels, then 2-2 chains, then the 2-1 pairing.

At 10M movements the walk sees ~1.25M payments and ~1.1M till receipts, so the SQL hands them over
already in the walk's orders (the sorts below then cost one pass), a till's pairing structures are
built only when a payment gets past its veto, and Python's cyclic garbage collector is paused
while the walk allocates its millions of tuples (none of which form cycles).
"""

from __future__ import annotations

import bisect
import gc
import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple

NON_COUPON_TENDERS = frozenset({"cash", "card", "qr", "other"})
MICROSECONDS = 1_000_000

# Instants are integer microseconds since the epoch, as the SQL below reads them: the walk only
# compares and subtracts them, and a million timestamps parsed into datetimes cost more than the
# walk itself (bench/eligibility.py at 10M).


class Payment(NamedTuple):
    movement_id: str
    inquiry_number: str
    store_id: str | None
    amount: int  # positive: what the payment deducted
    occurred_at: int
    request_id: str
    in_outage: bool


class Cancel(NamedTuple):
    movement_id: str
    inquiry_number: str
    amount: int  # positive: what the cancel gave back
    occurred_at: int
    request_id: str


class Receipt(NamedTuple):
    store_id: str
    receipt_number: str
    occurred_at: int
    amount: int
    tender: str


# Time order (payments and cancels alike): the instant, then the lower movement id.
IN_TIME_ORDER = attrgetter("occurred_at", "movement_id")
# A till's order: its store and amount, then the instant, then the lower receipt number.
TILL = attrgetter("store_id", "amount")
IN_TILL_ORDER = attrgetter("store_id", "amount", "occurred_at", "receipt_number")


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
    keys = {(c.inquiry_number, c.request_id, c.amount) for c in cancels if c.request_id}
    waiting: dict[tuple[str, str, int], list[Payment]] = defaultdict(list)
    for p in payments:
        key = (p.inquiry_number, p.request_id, p.amount)
        if key in keys:  # (only the payments a cancel could reverse)
            waiting[key].append(p)
    for queue in waiting.values():
        queue.sort(key=IN_TIME_ORDER)
    reversed_ids: set[str] = set()
    for c in sorted(cancels, key=IN_TIME_ORDER):
        queue = waiting.get((c.inquiry_number, c.request_id, c.amount), []) if c.request_id else []
        if queue and queue[0].occurred_at <= c.occurred_at:
            reversed_ids.add(queue.pop(0).movement_id)
    return reversed_ids


# --- 2-2: duplicates -------------------------------------------------------------------------------
def duplicates(standing: list[Payment], gap: int) -> tuple[dict[str, Candidate], set[str]]:
    """Chains of one coupon, store and amount, each payment within ``gap`` (microseconds) of the
    previous standing one: every payment after a chain's first is a suspected duplicate. Returns
    the candidates per coupon (evidence: the chains' payments, and which of them are the
    duplicates) and the duplicates' movement ids (2-1 does not consider them)."""
    # In time order, each payment against the previous standing one of its coupon, store and amount.
    previous_of: dict[tuple[str, str | None, int], Payment] = {}
    candidates: dict[str, Candidate] = {}
    taken: set[str] = set()
    for current in sorted(standing, key=IN_TIME_ORDER):
        key = (current.inquiry_number, current.store_id, current.amount)
        previous = previous_of.get(key)
        previous_of[key] = current
        if previous is not None and current.occurred_at - previous.occurred_at <= gap:
            candidate = candidates.setdefault(
                current.inquiry_number, Candidate(evidence={"movement_ids": [], "duplicate_movement_ids": []})
            )
            candidate.amount_yen += current.amount
            candidate.evidence["movement_ids"] += [previous.movement_id, current.movement_id]
            candidate.evidence["duplicate_movement_ids"].append(current.movement_id)
            taken.add(current.movement_id)
    for candidate in candidates.values():
        for name, ids in candidate.evidence.items():
            candidate.evidence[name] = sorted(set(ids))
    return candidates, taken


# --- 2-1: paid otherwise too ------------------------------------------------------------------------
def _root(parent: list[int], i: int) -> int:
    """Union-find with path compression: where ``i`` leads once used receipts are skipped."""
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


class _Receipts:
    """One till's non-coupon receipts of one amount, in till order (time, then receipt number),
    with the used ones skipped in amortised constant time."""

    def __init__(self, free: list[Receipt]) -> None:
        self.free = free
        self.times = [r.occurred_at for r in free]
        n = len(free)
        self._next = list(range(n + 1))  # the first unused index at or after i (n: none)
        self._previous = list(range(n + 1))  # shifted by one: the last unused at or before i - 1

    def take_nearest(self, at: int, window: int) -> Receipt | None:
        """The nearest unused receipt within ``window`` of ``at`` (a tie: the earlier, then the
        lower receipt number), marked used."""
        times = self.times
        low = bisect.bisect_left(times, at - window)
        high = bisect.bisect_right(times, at + window)  # candidates: [low, high)
        here = bisect.bisect_left(times, at)
        after = _root(self._next, here)
        before = _root(self._previous, here) - 1
        if after >= high:
            after = -1
        if before < low:
            before = -1
        if after < 0 and before < 0:
            return None
        if before < 0 or (after >= 0 and times[after] - at < at - times[before]):
            chosen = after
        else:
            # The nearest earlier time; of its receipts, the lowest unused number.
            chosen = _root(self._next, bisect.bisect_left(times, times[before]))
        self._next[chosen] = chosen + 1
        self._previous[chosen + 1] = chosen
        return self.free[chosen]


class _Till:
    """One store's till records of one amount, in till order: its coupon sales' times (a veto) and
    its non-coupon receipts. Most payments are vetoed (the till recorded them as coupon sales), so
    the receipts' structures are built when a payment first gets past the veto."""

    def __init__(self, records: list[Receipt]) -> None:
        self.records = records
        self.coupon_times = [r.occurred_at for r in records if r.tender == "coupon"]

    def vetoed(self, low: int, high: int) -> bool:
        k = bisect.bisect_left(self.coupon_times, low)
        return k < len(self.coupon_times) and self.coupon_times[k] <= high

    @cached_property
    def receipts(self) -> _Receipts:
        return _Receipts([r for r in self.records if r.tender in NON_COUPON_TENDERS])


def paid_otherwise(payments: list[Payment], receipts: list[Receipt], window: int) -> dict[str, Candidate]:
    """Each payment that could be 2-1 (standing, in the outage, in scope, not a duplicate), earliest
    first (then lower movement id), takes the nearest unused non-coupon receipt of its store and
    amount within ``window`` microseconds (a tie: the earlier receipt, then the lower receipt
    number) — unless a coupon sale of that amount lies within the window (a veto, never used up).
    A receipt evidences one payment only."""
    in_till_order = sorted(receipts, key=IN_TILL_ORDER)
    tills = {till: _Till(list(records)) for till, records in groupby(in_till_order, key=TILL)}
    candidates: dict[str, Candidate] = {}
    for p in sorted(payments, key=IN_TIME_ORDER):
        till = tills.get((p.store_id or "", p.amount)) if p.store_id is not None else None
        if till is None or till.vetoed(p.occurred_at - window, p.occurred_at + window):
            continue
        taken = till.receipts.take_nearest(p.occurred_at, window)
        if taken is None:
            continue
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
# The outage's payments, as ``elig_event`` holds them (with the payments outside the window that
# a cancel of an outage payment could reach first), and the cancels that could reverse one of them
# (same coupon, request id and amount): a cancel that shares no payment's keys reverses nothing
# the walk sees, and most cancels are of other evenings.
EPOCH_US = "(extract(epoch FROM {column}) * 1000000)::bigint"
PAYMENTS = f"""
SELECT movement_id, inquiry_number, store_id, -amount_yen, {EPOCH_US.format(column="occurred_at")},
       request_id, in_outage
FROM elig_event
WHERE kind = 'payment'
ORDER BY occurred_at, movement_id COLLATE "C"
"""
CANCELS = f"""
SELECT movement_id, inquiry_number, amount_yen, {EPOCH_US.format(column="occurred_at")}, request_id
FROM elig_event c
WHERE kind = 'cancel' AND request_id <> '' AND EXISTS (
  SELECT 1 FROM elig_event p
  WHERE p.inquiry_number = c.inquiry_number AND p.request_id = c.request_id
    AND p.kind = 'payment' AND p.amount_yen = -c.amount_yen)
"""

# Till receipts that could pair with an outage payment: its store and amount, within the window;
# in till order.
RECEIPTS = f"""
SELECT s.store_id, s.receipt_number, {EPOCH_US.format(column="s.occurred_at")}, s.amount_yen, s.tender
FROM coupons_storesale s
JOIN (SELECT DISTINCT store_id, -amount_yen AS amount FROM elig_event
      WHERE kind = 'payment' AND in_outage AND store_id IS NOT NULL) p
  ON p.store_id = s.store_id AND p.amount = s.amount_yen
WHERE s.occurred_at BETWEEN %(start)s - make_interval(secs => %(till)s)
                        AND %(end)s + make_interval(secs => %(till)s)
ORDER BY s.store_id COLLATE "C", s.amount_yen, s.occurred_at, s.receipt_number COLLATE "C"
"""

CANDIDATE_TABLE = """
CREATE TEMP TABLE {table} (
  inquiry_number text COLLATE "C" PRIMARY KEY, amount_yen bigint NOT NULL, evidence jsonb NOT NULL
) ON COMMIT DROP
"""

# The candidates travel as one JSON document (a parameter per candidate would be escaped one by
# one on the client: seconds for the 150,000 of the 10M bench).
INSERT_CANDIDATES = """
INSERT INTO {table} (inquiry_number, amount_yen, evidence)
SELECT c->>0, (c->>1)::bigint, c->2 FROM jsonb_array_elements(%(candidates)s::jsonb) c
"""


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The walk makes millions of tuples and no reference cycles: the cyclic collector's passes
    over them (triggered by the allocations) cost a quarter of the walk at 10M."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def deductions_decide(cursor, params: dict[str, Any]) -> None:
    """Fill ``elig_2_2`` and ``elig_2_1`` from ``elig_event`` (see the module doc)."""
    with _cyclic_gc_paused():
        cursor.execute(PAYMENTS)
        payments = list(map(Payment._make, cursor.fetchall()))
        cursor.execute(CANCELS)
        cancels = list(map(Cancel._make, cursor.fetchall()))
        gone = reversed_payments(payments, cancels)
        standing = [p for p in payments if p.in_outage and p.movement_id not in gone]
        found_2_2, taken = duplicates(standing, int(params["gap"]) * MICROSECONDS)
        cursor.execute(RECEIPTS, params)
        receipts = list(map(Receipt._make, cursor.fetchall()))
        found_2_1 = paid_otherwise(
            [p for p in standing if p.movement_id not in taken], receipts, int(params["till"]) * MICROSECONDS
        )
        for table, found in (("elig_2_2", found_2_2), ("elig_2_1", found_2_1)):
            cursor.execute(CANDIDATE_TABLE.format(table=table))
            rows = [[n, found[n].amount_yen, found[n].evidence] for n in sorted(found)]
            cursor.execute(INSERT_CANDIDATES.format(table=table), {"candidates": json.dumps(rows)})
