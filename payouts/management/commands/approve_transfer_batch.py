"""python manage.py approve_transfer_batch BATCH --by USERNAME"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from payouts.management.commands._batch import batch_number, user_named
from payouts.services.batches import BatchError, batch_approve


class Command(BaseCommand):
    help = "Approve a transfer batch (the second person: not its creator, holding the approver role)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("batch", help="the batch's id")
        parser.add_argument("--by", required=True, metavar="USERNAME", help="who approves (支払承認者)")

    def handle(self, *args, batch: str, by: str, **options) -> None:
        user = user_named(by)
        try:
            approved = batch_approve(batch_id=batch_number(batch), by=user)
        except BatchError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"振込バッチ #{approved.pk} を {user.username} が承認しました: {approved.count:,} 件、"
            f"合計 {approved.total_yen:,} 円、振込指定日 {approved.transfer_date:%Y-%m-%d}"
        )
