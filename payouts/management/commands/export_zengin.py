"""python manage.py export_zengin BATCH --out FILE"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payouts.management.commands._batch import batch_number
from payouts.services.batches import BatchError, batch_export_zengin
from payouts.zengin import ZenginError


class Command(BaseCommand):
    help = "Write the Zengin 総合振込 file of an approved batch (the same bytes every time)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("batch", help="the batch's id")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, batch: str, out: Path, **options) -> None:
        if out.is_dir() or not (out.parent if str(out.parent) else Path()).is_dir():
            raise CommandError(f"{out}: 書き込めるファイルのパスを指定してください。")
        try:
            exported, summary = batch_export_zengin(batch_id=batch_number(batch), out=out)
        except (BatchError, ZenginError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{out}: 振込バッチ #{exported.pk} の総合振込データ {summary.count:,} 件、"
            f"合計 {summary.total_yen:,} 円、"
            f"{summary.size_bytes:,} バイト、SHA-256 {summary.sha256}"
        )
