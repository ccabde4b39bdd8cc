"""``run_payouts`` (operations.md): everything the clock has made due, in order, idempotently.

1. payouts for the payable entitlements once the final instant has passed (creation.py);
2. receipt links for the points payouts from the incident's ``links_from`` (links.py);
3. after the receipt deadline, points payouts with no choice become ``expired`` (links.py).
4. the reminders that are due, each rung at most once per subject (reminders.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from claims.models import Incident
from payouts.services.creation import PayoutsCreated, payouts_create
from payouts.services.links import LinksQueued, PayoutsExpired, links_queue, payouts_expire
from payouts.services.reminders import RemindersSent, reminders_send


@dataclass
class PayoutsRun:
    incidents: list[tuple[Incident, PayoutsCreated, LinksQueued, PayoutsExpired]] = field(
        default_factory=list
    )
    reminders: list[RemindersSent] = field(default_factory=list)  # one per incident, same order

    def summary(self) -> str:
        parts = []
        for (incident, created, links, expired), reminded in zip(self.incidents, self.reminders, strict=True):
            if not created.due:
                made = "payouts not due yet (before the final instant)"
            else:
                by = ", ".join(f"{status} {count:,}" for status, count in sorted(created.by_status.items()))
                made = f"created {created.total:,} payouts" + (f" ({by})" if by else "")
                if created.contacts_attached or created.accounts_attached:
                    made += (
                        f", completed {created.contacts_attached:,} with an application's contact"
                        f" and {created.accounts_attached:,} with a bank account (now ready)"
                    )
            sent = f"queued {links.queued:,} receipt links" if links.due else "receipt links not due"
            gone = f"expired {expired.expired:,}" if expired.due else "nothing expires yet"
            reminders = f"reminders {reminded.total:,}" + (
                f" ({', '.join(f'{rung} {n:,}' for rung, n in sorted(reminded.sent.items()))})"
                if reminded.sent
                else ""
            )
            parts.append(f"{incident.code}: {made}; {sent}; {gone}; {reminders}")
        return " | ".join(parts) or "no incident"


def payouts_run(*, incident: Incident | None = None) -> PayoutsRun:
    run = PayoutsRun()
    for each in [incident] if incident else Incident.objects.order_by("pk"):
        created = payouts_create(incident=each)
        links = links_queue(incident=each)
        expired = payouts_expire(incident=each)
        run.incidents.append((each, created, links, expired))
        run.reminders.append(reminders_send(incident=each))
    return run
