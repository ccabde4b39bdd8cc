"""``run_payouts`` (operations.md): everything the clock has made due, in order, idempotently.

1. payouts for the payable entitlements once the final instant has passed (creation.py);
2. receipt links for the points payouts from the incident's ``links_from`` (links.py);
3. after the receipt deadline, points payouts with no choice become ``expired`` (links.py).
Reminders (P2) join here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from claims.models import Incident
from payouts.services.creation import PayoutsCreated, payouts_create
from payouts.services.links import LinksQueued, PayoutsExpired, links_queue, payouts_expire


@dataclass
class PayoutsRun:
    incidents: list[tuple[Incident, PayoutsCreated, LinksQueued, PayoutsExpired]] = field(
        default_factory=list
    )

    def summary(self) -> str:
        parts = []
        for incident, created, links, expired in self.incidents:
            if not created.due:
                made = "payouts not due yet (before the final instant)"
            else:
                by = ", ".join(f"{status} {count:,}" for status, count in sorted(created.by_status.items()))
                made = f"created {created.total:,} payouts" + (f" ({by})" if by else "")
            sent = f"queued {links.queued:,} receipt links" if links.due else "receipt links not due"
            gone = f"expired {expired.expired:,}" if expired.due else "nothing expires yet"
            parts.append(f"{incident.code}: {made}; {sent}; {gone}")
        return " | ".join(parts) or "no incident"


def payouts_run(*, incident: Incident | None = None) -> PayoutsRun:
    run = PayoutsRun()
    for each in [incident] if incident else Incident.objects.order_by("pk"):
        created = payouts_create(incident=each)
        links = links_queue(incident=each)
        expired = payouts_expire(incident=each)
        run.incidents.append((each, created, links, expired))
    return run
