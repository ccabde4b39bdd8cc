from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

# Staff users signed in with a verified second factor: every staff-page test uses these.
from tests.staff import staff, staff_client, staff_user  # noqa: F401

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, reachable: bool, why: str) -> None:
    """Skip a test whose service is missing on a developer's machine; fail it in CI."""
    if reachable:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI and is not reachable: {why}")
    pytest.skip(f"{name} not reachable: {why}")


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write a CSV file: write_csv("movements.csv", header, rows, encoding="utf-8", bom=False)."""

    def write(
        name: str,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        encoding: str = "utf-8",
        bom: bool = False,
        line_terminator: str = "\n",
    ) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=line_terminator)
        writer.writerow(header)
        writer.writerows(rows)
        data = buffer.getvalue().encode(encoding)
        path = tmp_path / name
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
        return path

    return write
