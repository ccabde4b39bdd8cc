"""python manage.py import_transfer_returns FILE"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payouts.services.returns import ReturnsFileError, transfer_returns_import


class Command(BaseCommand):
    help = (
        "Record returned transfers (組戻し) from the bank: CSV batch_id,customer_code,reason. All or nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        try:
            result = transfer_returns_import(file)
        except ReturnsFileError as error:
            raise CommandError(str(error)) from None
        missing = (
            f"、連絡先がなく通知できない {len(result.not_notified)} 件（支払ID: "
            f"{', '.join(map(str, result.not_notified[:20]))}）"
            if result.not_notified
            else ""
        )
        self.stdout.write(
            f"{file}: 組戻し {result.returned:,} 件（{result.total_yen:,} 円）を記録、口座の再登録を "
            f"{result.notified:,} 件依頼、記録済み {result.already:,} 件{missing}"
        )
