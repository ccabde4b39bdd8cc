"""python manage.py reconcile [--out FILE] [--incident CODE]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from claims.services.exports import write_csv
from payouts.management.commands._batch import incident_named
from payouts.services.reconciliation import RECONCILE_COLUMNS, Reconciliation, reconcile_rows

SHOWN = 20


class Command(BaseCommand):
    help = (
        "Every affected coupon against its outcome, with the yen balance: final balances = ordered + "
        "transferred + pending + expired + used up. Exit status 1 when anything does not add up."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, help="CSV of every coupon with its outcome and exception")
        parser.add_argument("--incident", help="incident code (default: the only incident)")

    def handle(self, *args, out: Path | None, incident: str | None, **options) -> None:
        chosen = incident_named(incident)
        result = Reconciliation()
        rows = reconcile_rows(incident=chosen, result=result)
        if out is None:
            for _ in rows:
                pass
        else:
            try:
                handle = out.open("w", newline="", encoding="utf-8")
            except OSError as error:
                raise CommandError(f"{out}: 書き込めません（{error.strerror}）。") from None
            with handle:
                write_csv(handle, RECONCILE_COLUMNS, rows)
        if result.adds_up:
            self.stdout.write(result.summary())
            return
        for inquiry, problem in result.exceptions[:SHOWN]:
            self.stderr.write(f"{inquiry}: {problem}")
        if len(result.exceptions) > SHOWN:
            self.stderr.write(f"…ほか {len(result.exceptions) - SHOWN:,} 件（--out の CSV に全件）")
        raise CommandError(result.summary())
