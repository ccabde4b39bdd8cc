"""An independent, plain-Python statement of DOMAIN.md "How the portal decides".

Written from DOMAIN.md (and the data contract in interfaces/regionpay-exchange.md), not from the
engine's SQL, so that the property tests compare two readings of the rules. Deliberately naive:
every rule is a loop over a handful of records.

Input: the incident's numbers (:meth:`Rules.of` reads them off the Incident) and plain records of
coupons, ledger movements and store-till sales. Output: ``{(inquiry_number, category): Decision}``
for the groups the engine finds on its own (1-1, 1-2, 2-1, 2-2).

Interpretations where DOMAIN.md is silent (stated here so a reviewer can disagree):
- "Not reversed by a cancel carrying their request_id": a ``cancel`` movement of the same coupon
  whose non-empty ``request_id`` equals the payment's. The cancel's time, store and amount do not
  matter; a payment without a request_id cannot be reversed this way.
- A reversed payment is left out before duplicates are chained: it is neither a duplicate nor the
  "previous one" of another payment.
- 2-2 chains: payments of one coupon at one store for one amount, in (occurred_at, movement_id)
  order; a payment is a suspected duplicate when the previous payment of its chain is at most
  ``duplicate_gap_seconds`` earlier (inclusive). The candidate amount is the sum, per coupon, of
  the absolute amounts of the suspected duplicates.
- 2-1: "within 10 minutes" is inclusive on both sides of the payment; store sales may lie outside
  the outage window (only the payment must be inside). Each matching payment counts, so two
  payments matched by one cash sale give twice the amount (the call center sorts it out).
- The outage window is half-open: ``outage_start <= occurred_at < outage_end``.
- Final amount: only for extended entitlements (1-1, extended automatically) once the portal's
  clock has reached ``final_balance_at``. A balance that is not positive pays nothing
  (``used_up``); a negative one (only an ``adjustment`` can make it) is recorded as 0, the amount
  owed, since a final balance below zero means nothing to pay.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

NON_COUPON_TENDERS = frozenset({"cash", "card", "qr", "other"})


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
        )


@dataclass(frozen=True)
class CouponRecord:
    inquiry_number: str
    expires_on: dt.date
    app_account_id: str = ""
    app_phone: str = ""
    app_email: str = ""
    app_withdrawn_at: dt.datetime | None = None


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


class Decision(NamedTuple):
    amount_yen: int
    route: str
    status: str
    cutoff_at: dt.datetime | None
    valid_until: dt.datetime | None
    final_balance_yen: int | None


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


def unreversed_outage_payments(rules: Rules, movements: Iterable[MovementRecord]) -> list[MovementRecord]:
    movements = list(movements)
    cancelled = {
        (m.inquiry_number, m.request_id) for m in movements if m.kind == "cancel" and m.request_id != ""
    }
    return [
        m
        for m in movements
        if m.kind == "payment"
        and in_outage(rules, m.occurred_at)
        and not (m.request_id != "" and (m.inquiry_number, m.request_id) in cancelled)
    ]


def duplicate_deductions(rules: Rules, payments: Iterable[MovementRecord]) -> dict[str, int]:
    """2-2: per coupon, the sum of the suspected duplicate payments."""
    chains: dict[tuple[str, str | None, int], list[MovementRecord]] = defaultdict(list)
    for p in payments:
        chains[(p.inquiry_number, p.store_id, p.amount_yen)].append(p)
    amounts: dict[str, int] = defaultdict(int)
    for (inquiry_number, _store, _amount), chain in chains.items():
        chain.sort(key=lambda p: (p.occurred_at, p.movement_id))
        for previous, current in itertools.pairwise(chain):
            if current.occurred_at - previous.occurred_at <= rules.duplicate_gap:
                amounts[inquiry_number] += -current.amount_yen
    return dict(amounts)


def paid_otherwise_deductions(
    rules: Rules, payments: Iterable[MovementRecord], sales: Iterable[SaleRecord]
) -> dict[str, int]:
    """2-1: per coupon, the sum of payments the till shows paid otherwise (and not by coupon)."""
    sales = list(sales)
    amounts: dict[str, int] = defaultdict(int)
    for p in payments:
        amount = -p.amount_yen
        nearby = [
            s
            for s in sales
            if s.store_id == p.store_id
            and s.amount_yen == amount
            and abs(s.occurred_at - p.occurred_at) <= rules.till_match
        ]
        paid_otherwise = any(s.tender in NON_COUPON_TENDERS for s in nearby)
        paid_by_coupon = any(s.tender == "coupon" for s in nearby)
        if paid_otherwise and not paid_by_coupon:
            amounts[p.inquiry_number] += amount
    return dict(amounts)


# --- the decision --------------------------------------------------------------------------------
def decide(
    rules: Rules,
    coupons: Iterable[CouponRecord],
    movements: Iterable[MovementRecord],
    sales: Iterable[SaleRecord],
    *,
    as_of: dt.datetime,
) -> dict[tuple[str, str], Decision]:
    """Every (coupon, group) the rules find, as a first run at ``as_of`` would record it."""
    movements = list(movements)
    by_coupon: dict[str, list[MovementRecord]] = defaultdict(list)
    for m in movements:
        by_coupon[m.inquiry_number].append(m)
    final_known = as_of >= rules.final_balance_at

    decisions: dict[tuple[str, str], Decision] = {}
    known = set()
    for coupon in coupons:
        known.add(coupon.inquiry_number)
        ledger = by_coupon.get(coupon.inquiry_number, [])
        if coupon.expires_on == rules.group_1_1_expires_on:
            at_cutoff = balance_at(ledger, rules.group_1_1_cutoff_at)
            if at_cutoff >= 1:
                final = None
                status = "extended"
                if final_known:
                    final = max(balance_at(ledger, rules.final_balance_at), 0)
                    status = "payable" if final > 0 else "used_up"
                decisions[(coupon.inquiry_number, "1-1")] = Decision(
                    amount_yen=at_cutoff,
                    route=route_1_1(coupon),
                    status=status,
                    cutoff_at=rules.group_1_1_cutoff_at,
                    valid_until=rules.extension_valid_until,
                    final_balance_yen=final,
                )
        if coupon.expires_on == rules.group_1_2_expires_on:
            at_cutoff = balance_at(ledger, rules.group_1_2_cutoff_at)
            if at_cutoff >= 1:
                decisions[(coupon.inquiry_number, "1-2")] = Decision(
                    amount_yen=at_cutoff,
                    route="callcenter",
                    status="found",
                    cutoff_at=rules.group_1_2_cutoff_at,
                    valid_until=None,
                    final_balance_yen=None,
                )

    payments = [p for p in unreversed_outage_payments(rules, movements) if p.inquiry_number in known]
    for category, amounts in (
        ("2-2", duplicate_deductions(rules, payments)),
        ("2-1", paid_otherwise_deductions(rules, payments, sales)),
    ):
        for inquiry_number, amount in amounts.items():
            decisions[(inquiry_number, category)] = Decision(
                amount_yen=amount,
                route="callcenter",
                status="found",
                cutoff_at=None,
                valid_until=None,
                final_balance_yen=None,
            )
    return decisions
