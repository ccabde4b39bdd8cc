"""Where every yen went: the payouts export and the reconciliation (issue #10 §5, operations.md).

Reconciliation reads every affected coupon of the incident — one whose final amount is recorded
(entitlement ``payable`` or ``used_up``) or that has a payout — and gives it exactly one outcome:

    ordered      gift points chosen, ordered or delivered (the vendor has the money's order)
    transferred  bank transfer executed (its batch's file went out and its date came)
    pending      still on its way: link not sent or not chosen, bank details awaited, ready, in a
                 batch, approved, returned and awaiting a corrected account; held by 要確認 too
    expired      gift points not chosen by the receipt deadline
    used_up      the traveller used the coupon up: final balance 0, nothing to pay

and checks that the yen add up: the final balances = ordered + transferred + pending + expired +
used up (0 yen). Every exception is listed: a payable coupon without a payout, a payout whose
amount is not the final balance, a payout for a decision that is no longer payable, a coupon with
more than one outcome, a transfer in a batch without its line (or a line of another amount).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import connection

from claims.models import Incident
from config import clock
from payouts.models import ReconciliationReport

JST = ZoneInfo("Asia/Tokyo")

OUTCOMES = ["ordered", "transferred", "pending", "expired", "used_up"]
OUTCOME_LABELS = {
    "ordered": "ポイント発注済み",
    "transferred": "振込済み",
    "pending": "支払手続き中",
    "expired": "受取期限切れ",
    "used_up": "使い切り",
    "missing": "支払未作成",
}
OUTCOME_BY_STATUS = {
    "chosen": "ordered",
    "ordered": "ordered",
    "delivered": "ordered",
    "transferred": "transferred",
    "expired": "expired",
    "created": "pending",
    "link_sent": "pending",
    "awaiting_bank_details": "pending",
    "ready": "pending",
    "in_batch": "pending",
    "approved": "pending",
    "returned": "pending",
}
# A bank payout in these states has exactly one live line in a batch (of its amount).
IN_A_BATCH = {"in_batch", "approved", "transferred"}

RECONCILE_COLUMNS = [
    "inquiry_number",
    "category",
    "entitlement_status",
    "needs_review",
    "final_balance_yen",
    "payout_id",
    "method",
    "payout_status",
    "amount_yen",
    "batch_id",
    "outcome",
    "exception",
]
PAYOUT_COLUMNS = [
    "payout_id",
    "inquiry_number",
    "category",
    "method",
    "status",
    "amount_yen",
    "brand",
    "batch_id",
    "transfer_date",
    "created_at",
    "updated_at",
]

_AFFECTED = """
SELECT e.inquiry_number, e.category, e.status, e.needs_review, e.final_balance_yen,
       p.id, p.method, p.status, p.amount_yen, l.batch_id, l.amount_yen,
       count(*) OVER (PARTITION BY e.inquiry_number) AS rows_of_coupon
FROM claims_entitlement e
LEFT JOIN payouts_payout p ON p.entitlement_id = e.id
LEFT JOIN payouts_transferline l ON l.payout_id = p.id AND l.outcome = ''
WHERE e.incident_id = %s AND (e.status IN ('payable', 'used_up') OR p.id IS NOT NULL)
ORDER BY e.inquiry_number, e.category
"""


@dataclass
class Reconciliation:
    coupons: int = 0
    final_yen: int = 0
    yen: dict[str, int] = field(default_factory=lambda: dict.fromkeys([*OUTCOMES, "missing"], 0))
    counts: Counter[str] = field(default_factory=Counter)
    held: int = 0  # pending because 要確認
    exceptions: list[tuple[str, str]] = field(default_factory=list)  # (inquiry number, sentence)

    @property
    def accounted_yen(self) -> int:
        return sum(self.yen[o] for o in OUTCOMES)

    @property
    def adds_up(self) -> bool:
        return not self.exceptions and self.final_yen == self.accounted_yen

    def summary(self) -> str:
        parts = "、".join(f"{OUTCOME_LABELS[o]} {self.counts[o]:,}件 {self.yen[o]:,}円" for o in OUTCOMES)
        verdict = "一致" if self.adds_up else "不一致"
        return (
            f"対象クーポン {self.coupons:,}件、最終残高の合計 {self.final_yen:,}円 = {parts}"
            f"（計 {self.accounted_yen:,}円、うち要確認で保留 {self.held:,}件）: {verdict}、"
            f"例外 {len(self.exceptions):,}件"
        )


def _exception(row: tuple) -> tuple[str, str]:
    """(outcome, exception sentence or '') of one entitlement row."""
    (_, _, e_status, _, final, payout, method, p_status, amount, batch, line_amount, rows_of_coupon) = row
    problems = []
    if rows_of_coupon > 1:
        problems.append("同じクーポンに複数の結果があります")
    if payout is None:
        if e_status == "used_up":
            return "used_up", "; ".join(problems)
        problems.append("支払が作成されていません")
        return "missing", "; ".join(problems)
    outcome = OUTCOME_BY_STATUS.get(p_status, "pending")
    if e_status != "payable":
        problems.append(f"判定が支払対象ではありません（{e_status}）")
    elif amount != final:
        problems.append(f"支払額 {amount:,}円が最終残高 {final:,}円と違います")
    if method == "bank" and p_status in IN_A_BATCH and batch is None:
        problems.append("振込バッチに明細がありません")
    elif batch is not None and line_amount != amount:
        problems.append(f"振込バッチ #{batch} の明細の金額 {line_amount:,}円が支払額と違います")
    return outcome, "; ".join(problems)


def reconcile_rows(*, incident: Incident, result: Reconciliation) -> Iterator[list[str]]:
    """One CSV row per affected coupon and group, filling ``result`` as it goes (streamed)."""
    with connection.cursor() as cursor:
        rows = cursor.cursor.stream(_AFFECTED, (incident.pk,), size=5_000)
        for row in rows:
            inquiry, category, e_status, review, final, payout, method, p_status, amount, batch, _, _ = row
            outcome, problem = _exception(row)
            result.coupons += 1
            result.final_yen += final or 0
            result.counts[outcome] += 1
            result.yen[outcome] += (final or 0) if outcome == "missing" else (amount or 0)
            if review and outcome in ("pending", "missing"):
                result.held += 1
            if problem:
                result.exceptions.append((inquiry, problem))
            yield [
                inquiry,
                category,
                e_status,
                "1" if review else "0",
                "" if final is None else str(final),
                "" if payout is None else str(payout),
                method or "",
                p_status or "",
                "" if amount is None else str(amount),
                "" if batch is None else str(batch),
                outcome,
                problem,
            ]


def reconcile(*, incident: Incident) -> Reconciliation:
    result = Reconciliation()
    for _ in reconcile_rows(incident=incident, result=result):
        pass
    return result


def reconciliation_record(*, incident: Incident, result: Reconciliation) -> ReconciliationReport:
    """Keep a reconciliation's result (the dashboard shows the latest)."""
    return ReconciliationReport.objects.create(
        incident=incident,
        at=clock.now(),
        adds_up=result.adds_up,
        coupons=result.coupons,
        final_yen=result.final_yen,
        outcomes={o: {"count": result.counts[o], "yen": result.yen[o]} for o in [*OUTCOMES, "missing"]},
        exceptions=[{"inquiry_number": i, "problem": p} for i, p in result.exceptions[:1000]],
        exception_count=len(result.exceptions),
    )


def _time(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(JST).isoformat(timespec="seconds")
    return value.isoformat()


_PAYOUTS = """
SELECT p.id, p.inquiry_number, e.category, p.method, p.status, p.amount_yen, p.brand, l.batch_id,
       b.transfer_date, p.created_at, p.updated_at
FROM payouts_payout p
JOIN claims_entitlement e ON e.id = p.entitlement_id
LEFT JOIN payouts_transferline l ON l.payout_id = p.id AND l.outcome = ''
LEFT JOIN payouts_transferbatch b ON b.id = l.batch_id
WHERE p.incident_id = %s
ORDER BY p.id
"""


def payout_rows(*, incident: Incident) -> Iterator[list[str]]:
    """Every payout with its state (no name, contact or account: the export leaves the office)."""
    with connection.cursor() as cursor:
        for row in cursor.cursor.stream(_PAYOUTS, (incident.pk,), size=5_000):
            pid, inquiry, category, method, status, amount, brand, batch, date, created, updated = row
            yield [
                str(pid),
                inquiry,
                category,
                method,
                status,
                str(amount),
                brand,
                "" if batch is None else str(batch),
                _time(date),
                _time(created),
                _time(updated),
            ]


def money_by_state(*, incident: Incident) -> list[dict[str, object]]:
    """Count and yen of the incident's payouts per method and state, for the dashboard."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT method, status, count(*), coalesce(sum(amount_yen), 0) FROM payouts_payout "
            "WHERE incident_id = %s GROUP BY method, status",
            [incident.pk],
        )
        rows = cursor.fetchall()
    return [{"method": m, "status": s, "count": c, "yen": int(y)} for m, s, c, y in rows]
