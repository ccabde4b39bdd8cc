"""An independent, plain-Python statement of DOMAIN.md "How the portal decides".

Written from DOMAIN.md (and the data contract in interfaces/regionpay-exchange.md), not from the
engine: it imports nothing of it, so that the property tests compare two readings of the rules.
Deliberately naive: every rule is a loop over a handful of records, recomputed from scratch.

Input: the incident's numbers (:meth:`Rules.of` reads them off the Incident), plain records of
coupons, ledger movements and store-till sales, and the 2-x decisions people made
(:class:`Confirmation`). Output: ``{(inquiry_number, category): Decision}`` for the groups the
engine finds on its own (1-1, 1-2, 2-1, 2-2), as a run at ``as_of`` leaves them.

Readings where DOMAIN.md leaves a choice (stated so that a reviewer can disagree):
- Scope: a coupon is in scope when its ``prefecture_code`` is one of the incident's; the store's
  prefecture does not matter. Out-of-scope coupons get nothing, and their payments take no till
  receipt from anyone.
- Cancels are taken earliest first (then lower movement id); each reverses the earliest
  unreversed payment of its coupon with its request id and amount, at or before the cancel's own
  time (then lower movement id). A cancel with an empty request id reverses nothing; payments
  outside the outage window can be reversed too (and so shield an outage payment from a cancel).
- 2-2 chains run over the payments still standing (in the window, in scope, not reversed), per
  coupon, store and amount, in (occurred_at, movement_id) order; a payment whose previous one in
  its chain is at most ``duplicate_gap`` earlier is a duplicate. Evidence: every payment of a
  chain link (both ends), and the duplicates.
- 2-1: only standing payments that 2-2 did not mark a duplicate (a chain's first payment stays
  eligible). A payment with a coupon sale of its amount at its store within the window is vetoed
  and takes no receipt. Payments are served earliest first (then lower movement id), each taking
  the nearest unused non-coupon receipt (then the earlier, then the lower receipt number).
  Receipts may lie outside the outage window. Evidence: the paired payments and receipts.
- Groups open with the clock: 1-2 at its cut-off, 1-1 at its cut-off, 2-x at the outage's end.
- Final amount, once the clock reaches ``final_balance_at``, for coupons with an extended
  decision (1-1 automatically; 2-x once a person confirmed it): platform balance = balance at the
  final instant + this incident's reinstatements echoed at or after it; final = max(platform
  balance, 0) + the amounts decided at or after the final instant. A platform balance below zero
  is flagged. Not final while a reinstatement decided before the final instant has no echo. The
  first extended decision by group (1-1 < 1-2 < 2-1 < 2-2) carries it (``payable`` or ``used_up``),
  the others are ``covered``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

NON_COUPON_TENDERS = frozenset({"cash", "card", "qr", "other"})
CATEGORY_ORDER = ["1-1", "1-2", "2-1", "2-2"]


@dataclass(frozen=True)
class Rules:
    """The incident's numbers, as the rules use them."""

    outage_start: dt.datetime
    outage_end: dt.datetime
    group_1_1_expires_on: dt.date
    group_1_1_cutoff_at: dt.datetime
    group_1_2_expires_on: dt.date
    group_1_2_cutoff_at: dt.datetime
    duplicate_gap: dt.timedelta
    till_match: dt.timedelta
    extension_valid_until: dt.datetime
    final_balance_at: dt.datetime
    prefecture_codes: frozenset[str] = frozenset({"12"})

    @classmethod
    def of(cls, incident) -> Rules:
        return cls(
            outage_start=incident.outage_start,
            outage_end=incident.outage_end,
            group_1_1_expires_on=incident.group_1_1_expires_on,
            group_1_1_cutoff_at=incident.group_1_1_cutoff_at,
            group_1_2_expires_on=incident.group_1_2_expires_on,
            group_1_2_cutoff_at=incident.group_1_2_cutoff_at,
            duplicate_gap=dt.timedelta(seconds=incident.duplicate_gap_seconds),
            till_match=dt.timedelta(seconds=incident.till_match_seconds),
            extension_valid_until=incident.extension_valid_until,
            final_balance_at=incident.final_balance_at,
            prefecture_codes=frozenset(incident.prefecture_codes),
        )


@dataclass(frozen=True)
class CouponRecord:
    inquiry_number: str
    expires_on: dt.date
    app_account_id: str = ""
    app_phone: str = ""
    app_email: str = ""
    app_withdrawn_at: dt.datetime | None = None
    prefecture_code: str = "12"


@dataclass(frozen=True)
class MovementRecord:
    movement_id: str
    inquiry_number: str
    kind: str
    amount_yen: int
    occurred_at: dt.datetime
    store_id: str | None = None
    request_id: str = ""


@dataclass(frozen=True)
class SaleRecord:
    store_id: str
    receipt_number: str
    occurred_at: dt.datetime
    amount_yen: int
    tender: str


@dataclass(frozen=True)
class Confirmation:
    """A person confirmed a 2-x candidate at ``decided_at``, reinstating these payments. Decided
    before the final instant it was sent to the platform as ``instruction_id``; the platform's
    echo is a ``reinstatement`` movement carrying that id."""

    inquiry_number: str
    category: str
    decided_at: dt.datetime
    amount_yen: int
    instruction_id: str | None


class Decision(NamedTuple):
    amount_yen: int
    route: str
    status: str
    cutoff_at: dt.datetime | None
    valid_until: dt.datetime | None
    final_balance_yen: int | None
    evidence: dict
    needs_review: bool


# --- the pieces ----------------------------------------------------------------------------------
def balance_at(movements: Iterable[MovementRecord], at: dt.datetime) -> int:
    """The balance at instant ``at``: every movement strictly before it."""
    return sum(m.amount_yen for m in movements if m.occurred_at < at)


def route_1_1(coupon: CouponRecord) -> str:
    """``app`` when charged into an open app account with somewhere to send the URL to: an e-mail
    address, or a mobile number for SMS (DESIGN.md: SMS only to 060/070/080/090)."""
    in_app = coupon.app_account_id != "" and coupon.app_withdrawn_at is None
    mobile = str(coupon.app_phone)[:5] in {"+8160", "+8170", "+8180", "+8190"}
    reachable = mobile or bool(coupon.app_email)
    return "app" if in_app and reachable else "application"


def in_outage(rules: Rules, at: dt.datetime) -> bool:
    return rules.outage_start <= at < rules.outage_end


def reversed_by_cancels(movements: list[MovementRecord]) -> set[str]:
    """The movement ids of the payments the cancels reverse (one each)."""
    gone: set[str] = set()
    cancels = sorted(
        (m for m in movements if m.kind == "cancel"), key=lambda m: (m.occurred_at, m.movement_id)
    )
    for cancel in cancels:
        if cancel.request_id == "":
            continue
        matching = [
            p
            for p in movements
            if p.kind == "payment"
            and p.movement_id not in gone
            and p.inquiry_number == cancel.inquiry_number
            and p.request_id == cancel.request_id
            and p.amount_yen == -cancel.amount_yen
        ]
        if not matching:
            continue
        earliest = min(matching, key=lambda p: (p.occurred_at, p.movement_id))
        if earliest.occurred_at <= cancel.occurred_at:
            gone.add(earliest.movement_id)
    return gone


def standing_outage_payments(
    rules: Rules, movements: list[MovementRecord], in_scope: set[str]
) -> list[MovementRecord]:
    gone = reversed_by_cancels(movements)
    return [
        m
        for m in movements
        if m.kind == "payment"
        and m.inquiry_number in in_scope
        and in_outage(rules, m.occurred_at)
        and m.movement_id not in gone
    ]


@dataclass
class Found:
    amount_yen: int = 0
    evidence: dict = field(default_factory=dict)


def duplicate_deductions(rules: Rules, payments: list[MovementRecord]) -> tuple[dict[str, Found], set[str]]:
    """2-2: per coupon, the suspected duplicates (and which payments they are)."""
    found: dict[str, Found] = {}
    duplicates: set[str] = set()
    for p in payments:
        chain = sorted(
            (
                q
                for q in payments
                if (q.inquiry_number, q.store_id, q.amount_yen)
                == (p.inquiry_number, p.store_id, p.amount_yen)
            ),
            key=lambda q: (q.occurred_at, q.movement_id),
        )
        position = chain.index(p)
        if position == 0:
            continue
        previous = chain[position - 1]
        if p.occurred_at - previous.occurred_at <= rules.duplicate_gap:
            entry = found.setdefault(
                p.inquiry_number, Found(0, {"movement_ids": set(), "duplicate_movement_ids": set()})
            )
            entry.amount_yen += -p.amount_yen
            entry.evidence["movement_ids"] |= {previous.movement_id, p.movement_id}
            entry.evidence["duplicate_movement_ids"].add(p.movement_id)
            duplicates.add(p.movement_id)
    for entry in found.values():
        entry.evidence = {k: sorted(v) for k, v in entry.evidence.items()}
    return found, duplicates


def paid_otherwise_deductions(
    rules: Rules, payments: list[MovementRecord], sales: list[SaleRecord]
) -> dict[str, Found]:
    """2-1: receipts and payments paired one to one, payments earliest first."""
    found: dict[str, Found] = {}
    used: set[tuple[str, str]] = set()
    for p in sorted(payments, key=lambda p: (p.occurred_at, p.movement_id)):
        amount = -p.amount_yen
        nearby = [
            s
            for s in sales
            if s.store_id == p.store_id
            and s.amount_yen == amount
            and abs(s.occurred_at - p.occurred_at) <= rules.till_match
        ]
        if any(s.tender == "coupon" for s in nearby):
            continue  # the till took the coupon for this amount: not paid otherwise
        unused = [
            s for s in nearby if s.tender in NON_COUPON_TENDERS and (s.store_id, s.receipt_number) not in used
        ]
        if not unused:
            continue
        best = sorted(
            unused, key=lambda s: (abs(s.occurred_at - p.occurred_at), s.occurred_at, s.receipt_number)
        )[0]
        used.add((best.store_id, best.receipt_number))
        entry = found.setdefault(p.inquiry_number, Found(0, {"movement_ids": [], "receipt_numbers": []}))
        entry.amount_yen += amount
        entry.evidence["movement_ids"].append(p.movement_id)
        entry.evidence["receipt_numbers"].append(best.receipt_number)
    for entry in found.values():
        entry.evidence = {k: sorted(v) for k, v in entry.evidence.items()}
    return found


def final_amount(
    rules: Rules, ledger: list[MovementRecord], confirmations: list[Confirmation]
) -> tuple[int, int, bool]:
    """(final amount, platform balance, still waiting for an echo) of one coupon."""
    ours = {c.instruction_id for c in confirmations if c.instruction_id}
    echoes = [m for m in ledger if m.kind == "reinstatement" and m.request_id in ours]
    waiting = any(
        c.instruction_id and not any(m.request_id == c.instruction_id for m in echoes) for c in confirmations
    )
    platform = balance_at(ledger, rules.final_balance_at) + sum(
        m.amount_yen for m in echoes if m.occurred_at >= rules.final_balance_at
    )
    late = sum(c.amount_yen for c in confirmations if c.decided_at >= rules.final_balance_at)
    return max(platform, 0) + late, platform, waiting


# --- the decision --------------------------------------------------------------------------------
def decide(
    rules: Rules,
    coupons: Iterable[CouponRecord],
    movements: Iterable[MovementRecord],
    sales: Iterable[SaleRecord],
    *,
    as_of: dt.datetime,
    confirmations: Iterable[Confirmation] = (),
) -> dict[tuple[str, str], Decision]:
    """Every (coupon, group) the rules find at ``as_of``, with the people's confirmations."""
    coupons = list(coupons)
    movements = list(movements)
    sales = list(sales)
    confirmations = list(confirmations)
    in_scope = {c.inquiry_number for c in coupons if c.prefecture_code in rules.prefecture_codes}
    by_coupon: dict[str, list[MovementRecord]] = defaultdict(list)
    for m in movements:
        by_coupon[m.inquiry_number].append(m)

    decisions: dict[tuple[str, str], Decision] = {}
    for coupon in coupons:
        if coupon.inquiry_number not in in_scope:
            continue
        ledger = by_coupon[coupon.inquiry_number]
        for category, expiry, cutoff, route, status, valid_until in (
            (
                "1-1",
                rules.group_1_1_expires_on,
                rules.group_1_1_cutoff_at,
                route_1_1(coupon),
                "extended",
                rules.extension_valid_until,
            ),
            ("1-2", rules.group_1_2_expires_on, rules.group_1_2_cutoff_at, "callcenter", "found", None),
        ):
            if coupon.expires_on == expiry and as_of >= cutoff:
                amount = balance_at(ledger, cutoff)
                if amount >= 1:
                    decisions[(coupon.inquiry_number, category)] = Decision(
                        amount, route, status, cutoff, valid_until, None, {}, False
                    )

    if as_of >= rules.outage_end:
        payments = standing_outage_payments(rules, movements, in_scope)
        duplicates, taken = duplicate_deductions(rules, payments)
        cash = paid_otherwise_deductions(rules, [p for p in payments if p.movement_id not in taken], sales)
        confirmed = {(c.inquiry_number, c.category) for c in confirmations}
        for category, found in (("2-2", duplicates), ("2-1", cash)):
            for inquiry_number, entry in found.items():
                extended = (inquiry_number, category) in confirmed
                decisions[(inquiry_number, category)] = Decision(
                    entry.amount_yen,
                    "callcenter",
                    "extended" if extended else "found",
                    None,
                    rules.extension_valid_until if extended else None,
                    None,
                    entry.evidence,
                    False,
                )

    if as_of >= rules.final_balance_at:
        for inquiry_number in sorted({k[0] for k in decisions}):
            extended = sorted(
                (
                    cat
                    for (number, cat), d in decisions.items()
                    if number == inquiry_number and d.status == "extended"
                ),
                key=CATEGORY_ORDER.index,
            )
            if not extended:
                continue
            mine = [c for c in confirmations if c.inquiry_number == inquiry_number]
            amount, platform, waiting = final_amount(rules, by_coupon[inquiry_number], mine)
            if waiting:
                continue
            carrier, *others = extended
            decisions[(inquiry_number, carrier)] = decisions[(inquiry_number, carrier)]._replace(
                status="payable" if amount > 0 else "used_up",
                final_balance_yen=amount,
                needs_review=platform < 0,
            )
            for other in others:
                decisions[(inquiry_number, other)] = decisions[(inquiry_number, other)]._replace(
                    status="covered"
                )
    return decisions
