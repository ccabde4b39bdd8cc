"""python manage.py create_transfer_batch --by USERNAME [--incident CODE] [--transfer-date YYYY-MM-DD]"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from payouts.management.commands._batch import incident_named, user_named
from payouts.services.batches import BatchError, NothingToBatch, batch_create

NOTHING_TO_BATCH = 3  # operations.md: with nothing to batch, exit status 3


class Command(BaseCommand):
    help = (
        "Make a bank-transfer batch of every ready bank payout not yet in a batch; print its id alone "
        "on the last line. Nothing to batch: exit status 3."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--by", required=True, metavar="USERNAME", help="who makes the batch (運営事務局)"
        )
        parser.add_argument("--incident", help="incident code (default: the only incident)")
        parser.add_argument(
            "--transfer-date",
            type=dt.date.fromisoformat,
            help="振込指定日, a bank business day (default: the second business day from today)",
        )

    def handle(self, *args, by: str, incident: str | None, transfer_date: dt.date | None, **options) -> None:
        user = user_named(by)
        try:
            created = batch_create(incident=incident_named(incident), by=user, transfer_date=transfer_date)
        except NothingToBatch as nothing:
            raise CommandError(str(nothing), returncode=NOTHING_TO_BATCH) from None
        except BatchError as error:
            raise CommandError(str(error)) from None
        batch = created.batch
        ids = ", ".join(str(p) for p, _ in created.skipped[:20])
        skipped = f"、対象外 {len(created.skipped)} 件（支払ID: {ids}）" if created.skipped else ""
        self.stdout.write(
            f"振込バッチ #{batch.pk} を作成しました: {batch.count:,} 件、合計 {batch.total_yen:,} 円、"
            f"振込指定日 {batch.transfer_date:%Y-%m-%d}、承認待ち{skipped}"
        )
        self.stdout.write(str(batch.pk))
