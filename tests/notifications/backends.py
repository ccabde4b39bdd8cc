"""Backends for the worker tests: the real file backend, with a way to stop a worker mid-send.

The worker process is started with ``NOTIFY_BACKEND=tests.notifications.backends.<Class>``; what
it does is told by environment variables, since the test and the worker are separate processes.
Every provider call is appended to ``calls.log`` beside the messages, so a test can count how
many times a message was handed over, not only how many files there are.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from notifications.backends import Envelope, TransientSendError
from notifications.backends.file import FileBackend


def _outbox() -> Path:
    directory = Path(settings.NOTIFY_OUTBOX_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _log_call(envelope: Envelope) -> int:
    """Append this call to calls.log; return how many calls this message has had, this one included."""
    log = _outbox() / "calls.log"
    with log.open("a") as handle:
        handle.write(f"{envelope.key} {time.time():.3f}\n")
    return sum(1 for line in log.read_text().splitlines() if line.startswith(envelope.key))


def _pause(marker: str) -> None:
    (_outbox() / marker).touch()
    time.sleep(600)  # the test kills the worker here


class PausingFileBackend:
    """``NOTIFY_TEST_PAUSE=before``: hang before the provider call; ``after``: hang after it,
    before the relay can record that it was sent. Unset: the plain file backend."""

    def send(self, envelope: Envelope) -> str:
        pause = os.environ.get("NOTIFY_TEST_PAUSE", "")
        if pause == "before":
            _pause(f"paused-before-{envelope.message_id}")
        _log_call(envelope)
        name = FileBackend(_outbox()).send(envelope)
        if pause == "after":
            _pause(f"paused-after-{envelope.message_id}")
        return name


class FlakyFileBackend:
    """The first ``NOTIFY_TEST_FAILURES`` calls for a message fail with a named transient error."""

    def send(self, envelope: Envelope) -> str:
        calls = _log_call(envelope)
        if calls <= int(os.environ.get("NOTIFY_TEST_FAILURES", "0")):
            raise TransientSendError("connection reset by the provider")
        return FileBackend(_outbox()).send(envelope)
