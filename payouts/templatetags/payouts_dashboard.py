"""The dashboard's payouts section: money by payout state as a server-drawn SVG bar chart.

An inclusion tag, so the claims dashboard shows payouts without claims importing payouts (the
rooms' arrows point one way: payouts reads claims, never the reverse).
"""

from __future__ import annotations

from typing import Any

from django import template

from claims.models import Incident
from payouts.models import Payout, ReconciliationReport
from payouts.services.reconciliation import OUTCOME_LABELS, OUTCOMES, money_by_state

register = template.Library()

# The order a payout moves in, per method, so the chart reads like the journey.
ORDER = [
    *(("points", s) for s in ["created", "link_sent", "chosen", "ordered", "delivered", "expired"]),
    *(
        ("bank", s)
        for s in ["awaiting_bank_details", "ready", "in_batch", "approved", "transferred", "returned"]
    ),
]
BAR_HEIGHT, GAP = 22, 8


@register.inclusion_tag("admin/payouts/_money_by_state.html")
def payouts_money_by_state(incident: Incident) -> dict[str, Any]:
    found = {(row["method"], row["status"]): row for row in money_by_state(incident=incident)}
    methods = dict(Payout.Method.choices)
    statuses = dict(Payout.Status.choices)
    widest = max((row["yen"] for row in found.values()), default=0) or 1
    bars = []
    for key in ORDER:
        row = found.get(key)
        if row is None:
            continue
        bars.append(
            {
                "label": f"{methods[key[0]]}・{statuses[key[1]]}",
                "count": row["count"],
                "yen": row["yen"],
                "percent": round(100 * row["yen"] / widest, 1),
                "y": len(bars) * (BAR_HEIGHT + GAP),
            }
        )
    report = ReconciliationReport.objects.filter(incident=incident).first()
    return {
        "bars": bars,
        "height": max(len(bars) * (BAR_HEIGHT + GAP) - GAP, 0),
        "bar_height": BAR_HEIGHT,
        "total_count": sum(b["count"] for b in bars),
        "total_yen": sum(b["yen"] for b in bars),
        "report": report,
        "outcome_rows": [(OUTCOME_LABELS[o], report.outcomes.get(o, {})) for o in OUTCOMES] if report else [],
    }
