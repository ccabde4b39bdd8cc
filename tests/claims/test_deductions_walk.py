"""The 2-1 walk's receipt search (union-find over the till's receipts in time order) against the
rule written plainly: the nearest unused non-coupon receipt within the window, a tie going to the
earlier receipt and then the lower receipt number; a coupon sale within the window vetoes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from claims.services.eligibility.deductions import NON_COUPON_TENDERS, Payment, Receipt, paid_otherwise

# A coupon sale vetoes its whole window: rarer than the others, or few payments would get past it.
TENDERS = ["cash", "cash", "cash", "card", "card", "qr", "other", "points", "coupon"]


def plainly(payments: list[Payment], receipts: list[Receipt], window: int) -> dict[str, list[str]]:
    used: set[str] = set()
    taken: dict[str, list[str]] = {}
    for p in sorted(payments, key=lambda p: (p.occurred_at, p.movement_id)):
        near = [
            r
            for r in receipts
            if (r.store_id, r.amount) == (p.store_id, p.amount)
            and abs(r.occurred_at - p.occurred_at) <= window
        ]
        if any(r.tender == "coupon" for r in near):
            continue
        free = [r for r in near if r.tender in NON_COUPON_TENDERS and r.receipt_number not in used]
        if not free:
            continue
        best = min(free, key=lambda r: (abs(r.occurred_at - p.occurred_at), r.occurred_at, r.receipt_number))
        used.add(best.receipt_number)
        taken.setdefault(p.inquiry_number, []).append(best.receipt_number)
    return {number: sorted(receipts) for number, receipts in taken.items()}


@settings(max_examples=500, deadline=None)
@given(
    payment_times=st.lists(st.integers(0, 20), min_size=1, max_size=25),
    receipt_rows=st.lists(
        st.tuples(st.integers(0, 20), st.sampled_from(TENDERS), st.sampled_from([500, 800])), max_size=40
    ),
    window=st.integers(0, 6),
)
def test_the_walk_takes_the_receipt_the_rule_names(payment_times, receipt_rows, window) -> None:
    payments = [
        Payment(f"M{n:03d}", f"C{n % 7}", "S1", 800 if n % 3 else 500, at, "", True)
        for n, at in enumerate(payment_times)
    ]
    # Receipt numbers not in time order, and several at one instant: the tie-breaks are exercised.
    receipts = [
        Receipt("S1", f"R{(n * 7919) % 1000:03d}", at, amount, tender)
        for n, (at, tender, amount) in enumerate(receipt_rows)
    ]
    found = paid_otherwise(payments, receipts, window)
    assert {number: c.evidence["receipt_numbers"] for number, c in found.items()} == plainly(
        payments, receipts, window
    )
