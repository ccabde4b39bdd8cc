"""What export_entitlements and export_instructions share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from claims.models import Incident
from claims.services.exports import write_csv


class ExportCommand(BaseCommand):
    columns: list[str]
    rows: Callable[..., Iterator[list[str]]]

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--incident", help="incident code (default: the only incident)")

    def handle(self, *args, out: Path, incident: str | None, **options) -> None:
        incidents = Incident.objects.filter(code=incident) if incident else Incident.objects.all()
        if incidents.count() != 1:
            raise CommandError("name the incident with --incident CODE")
        with out.open("w", newline="", encoding="utf-8") as handle:
            count = write_csv(handle, self.columns, self.rows(incident=incidents.get()))
        self.stdout.write(f"{out}: {count:,} rows")
