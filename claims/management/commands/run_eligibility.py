"""python manage.py run_eligibility [--incident CODE] [--full]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from claims.models import Incident
from claims.services.runs import EligibilityRunActive, eligibility_run_create, eligibility_run_execute


class Command(BaseCommand):
    help = "Find every eligible coupon for the incident (idempotent: run it again at any time)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--incident", help="incident code (default: the only incident)")
        parser.add_argument(
            "--full",
            action="store_true",
            help="read the whole ledger (by default only the coupons changed since the last run)",
        )

    def handle(self, *args, incident: str | None, full: bool, **options) -> None:
        incidents = Incident.objects.filter(code=incident) if incident else Incident.objects.all()
        if incidents.count() != 1:
            raise CommandError("name the incident with --incident CODE")
        started = time.monotonic()  # wall time: the portal's clock may be pinned
        try:
            run = eligibility_run_create(incident=incidents.get(), created_by=None, enqueue=False)
        except EligibilityRunActive as active:
            raise CommandError(
                f"eligibility run #{active.run.pk if active.run else '?'} is already queued or running; "
                "wait for it to finish (a run whose worker is gone is marked lost by beat's tick)"
            ) from None
        run = eligibility_run_execute(run_id=run.pk, full=full)
        summary = run.summary
        mode = (
            f"incremental: re-decided {summary['coupons']:,} of the coupons"
            if summary.get("mode") == "incremental"
            else "full"
        )
        created = ", ".join(f"{group}: {count:,}" for group, count in summary["created"].items())
        self.stdout.write(
            f"run #{run.pk} ({mode}) as of {timezone.localtime(run.as_of):%Y-%m-%d %H:%M} JST: "
            f"created {created}; "
            f"flagged for review {summary['flagged_for_review']:,}; "
            f"final balances {summary['final_balances_recorded']:,}; "
            f"instructions applied {summary['instructions_applied']:,} "
            f"[{time.monotonic() - started:.1f}s]"
        )
