"""python manage.py import_regionpay PATH... [--encoding cp932]"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from coupons.services.importing import ImportOutcome, regionpay_import

PHASES = {"copy": "読み込み", "check": "検査", "merge": "登録"}


class _Bars:
    """One tqdm bar per file on a terminal; nothing when output is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.file = ""

    def __call__(self, file: str, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if file != self.file:
            self.close()
            self.file = file
            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"{file} 読み込み", leave=False)
        if self.bar is None:
            return
        if phase == "copy":
            self.bar.update(done - self.bar.n)
        else:
            self.bar.set_description(f"{file} {PHASES[phase]}（{total:,}行）")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# Exit statuses, for scripts (also in the command's help and docs/operations.md).
EXIT_OK = 0  # every file imported: its records new or unchanged
EXIT_REFUSED = 1  # a file refused (nothing of it imported; later files skipped), or bad arguments
EXIT_CONFLICTS = 3  # imported, but some records conflict with ones seen before (not overwritten)


class Command(BaseCommand):
    help = (
        "Import region PAY platform CSV files (stores, coupons, movements, store sales). "
        f"Exit status: {EXIT_OK} every file imported; "
        f"{EXIT_REFUSED} a file was refused (nothing of that file imported, later files skipped) "
        "or the arguments are wrong; "
        f"{EXIT_CONFLICTS} imported, but some records have a known key with different content "
        "(reported as conflicts, never overwritten)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, BOM optional) or cp932")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, paths: list[Path], encoding: str, no_progress: bool, **options) -> None:
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise CommandError(f"no such file: {', '.join(missing)}")
        bars = _Bars(enabled=not no_progress and sys.stderr.isatty())
        try:
            outcome = regionpay_import(paths=paths, encoding=encoding, progress=bars)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bars.close()
        self._report(outcome)
        if not outcome.ok:
            raise CommandError(
                f"{outcome.failed_file}: {outcome.bad_rows:,} 行に問題があるため、"
                "このファイルは取り込んでいません",
                returncode=EXIT_REFUSED,
            )
        conflicts = sum(result.conflicts for result in outcome.results)
        if conflicts:
            raise CommandError(
                f"{conflicts:,} 件の記録が、すでに取り込んだ同じキーの記録と内容が違います"
                "（上書きしていません）。プラットフォーム側に確認してください",
                returncode=EXIT_CONFLICTS,
            )

    def _report(self, outcome: ImportOutcome) -> None:
        for result in outcome.results:
            self.stdout.write(
                f"{result.file} ({result.kind}): {result.rows:,} rows — inserted {result.inserted:,}, "
                f"unchanged {result.unchanged:,}, conflicts {result.conflicts:,} "
                f"[{result.seconds:.1f}s, {result.method}]"
            )
            for conflict in result.conflict_examples:
                self.stdout.write(self.style.WARNING(f"  conflict {conflict}"))
        for error in outcome.errors:
            self.stderr.write(self.style.ERROR(str(error)))
        if outcome.errors and outcome.bad_rows > len(outcome.errors):
            self.stderr.write(f"… ほか（問題のある行は全部で {outcome.bad_rows:,} 行）")
        for name in outcome.skipped:
            self.stderr.write(f"{name}: skipped (an earlier file was refused)")
