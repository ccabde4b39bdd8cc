from __future__ import annotations

from pathlib import Path

import pytest

from tests.notifications.relay import relay  # noqa: F401 - the worker fixture, for this folder's tests


@pytest.fixture
def outbox_dir(settings, tmp_path: Path) -> Path:
    """The file backend writes here for this test only."""
    settings.NOTIFY_BACKEND = "file"
    settings.NOTIFY_OUTBOX_DIR = tmp_path / "outbox"
    return settings.NOTIFY_OUTBOX_DIR


def outbox_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json")) if directory.exists() else []
