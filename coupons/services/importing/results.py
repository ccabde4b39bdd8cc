"""What an import reports: per-file results, and refusals naming file, line and column."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

MAX_REPORTED_ERRORS = 20

# Progress callback: (file name, phase, done, total). Phases: "copy" (bytes), "merge".
Progress = Callable[[str, str, int, int], None]


# --- results and errors --------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        column = f" {self.column}:" if self.column else ""
        return f"{self.file}:{self.line}:{column} {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class ImportFileError(Exception):
    """A file was refused; nothing of it was imported."""

    def __init__(self, errors: Sequence[RowError], *, bad_rows: int | None = None) -> None:
        self.errors = list(errors)
        self.bad_rows = bad_rows if bad_rows is not None else len(self.errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclass
class FileResult:
    file: str
    kind: str
    rows: int
    inserted: int
    unchanged: int
    conflicts: int
    conflict_examples: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    # "staging", "direct" (COPY straight into the table: large valid new files) or "bulk" (the first
    # load of an empty ledger, in parallel into a new table swapped in)
    method: str = "staging"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows": self.rows,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "conflict_examples": [error.as_dict() for error in self.conflict_examples],
            "seconds": round(self.seconds, 3),
            "method": self.method,
        }


@dataclass
class ImportOutcome:
    results: list[FileResult]
    failed_file: str | None = None
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed_file is None


class Road(StrEnum):
    """The three roads a file can take into the tables (see the package's docstring)."""

    BULK = "bulk"  # the first load of an empty ledger: a one-off per ledger
    DIRECT = "direct"  # a large file of new movements, COPY straight into the ledger
    STAGING = "staging"  # every other file, and any file a fast road doubts: decides and explains


@dataclass(frozen=True)
class HandOver:
    """What a fast road returns instead of its rows when it doubts the file (nothing of the file
    is in the tables): the road that takes the file on from its first line, and why."""

    road: Road
    reason: str  # for the log: never a value of the file
