"""python manage.py run_payouts [--incident CODE]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from claims.models import Incident
from payouts.services.runs import payouts_run


class Command(BaseCommand):
    help = (
        "Create the payouts the clock has made due, queue the receipt links that are due, expire "
        "what passed the receipt deadline (idempotent: run it again at any time)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--incident", help="incident code (default: every incident)")

    def handle(self, *args, incident: str | None, **options) -> None:
        chosen = None
        if incident:
            chosen = Incident.objects.filter(code=incident).first()
            if chosen is None:
                raise CommandError(
                    f"no incident with code {incident!r} / 障害コード {incident!r} はありません"
                )
        started = time.monotonic()  # wall time: the portal's clock may be pinned
        run = payouts_run(incident=chosen)
        self.stdout.write(f"{run.summary()} [{time.monotonic() - started:.1f}s]")
