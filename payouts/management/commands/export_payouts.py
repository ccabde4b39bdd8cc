"""python manage.py export_payouts --out FILE [--incident CODE]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from claims.services.exports import write_csv
from payouts.management.commands._batch import incident_named
from payouts.services.reconciliation import PAYOUT_COLUMNS, payout_rows


class Command(BaseCommand):
    help = "Write every payout with its state as CSV (streamed; no names, contacts or accounts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--incident", help="incident code (default: the only incident)")

    def handle(self, *args, out: Path, incident: str | None, **options) -> None:
        chosen = incident_named(incident)
        try:
            handle = out.open("w", newline="", encoding="utf-8")
        except OSError as error:
            raise CommandError(f"{out}: 書き込めません（{error.strerror}）。") from None
        with handle:
            count = write_csv(handle, PAYOUT_COLUMNS, payout_rows(incident=chosen))
        self.stdout.write(f"{out}: 支払 {count:,} 件")
