"""Real Celery worker processes for the outbox tests, started, killed (SIGKILL) and restarted.

Other rooms' tests may use them too: ``from tests.notifications.relay import relay, wait_for``
(a pytest fixture and a helper). The workers read and write the messages in ``relay.outbox``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from config import celery_app
from notifications.models import Message
from tests.conftest import require_service
from tests.workers import ROOT, _redis_reachable, _test_database_url

LEASE_SECONDS = 3


class Relay:
    """Celery workers on a queue of the test's own, started, killed and restarted at will."""

    def __init__(self, queue: str, outbox: Path) -> None:
        self.queue = queue
        self.outbox = outbox
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, backend: str, **env: str) -> None:
        assert self.process is None or self.process.poll() is not None
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue, "-c", "1"),
                *("--pool", "solo", "-l", "WARNING"),
                *("--without-heartbeat", "--without-gossip", "--without-mingle"),
            ],
            cwd=ROOT,
            env=dict(
                os.environ,
                DJANGO_SETTINGS_MODULE="tests.settings",
                DATABASE_URL=_test_database_url(),
                REDIS_URL=settings.REDIS_URL,
                CELERY_TASK_ALWAYS_EAGER="0",
                CELERY_TASK_DEFAULT_QUEUE=self.queue,
                NOTIFY_OUTBOX_DIR=str(self.outbox),
                NOTIFY_BACKEND=f"tests.notifications.backends.{backend}",
                NOTIFY_LEASE_SECONDS=str(LEASE_SECONDS),
                NOTIFY_SWEEP_GRACE_SECONDS="0",
                **env,
            ),
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=20) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def files(self) -> list[Path]:
        return sorted(self.outbox.glob("*.json"))

    def calls(self, message: Message) -> list[float]:
        log = self.outbox / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [float(line.split()[1]) for line in lines if line.startswith(str(message.key))]


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    reachable, why = _redis_reachable()
    require_service("Redis", reachable, why)
    queue = f"regionpay-test-outbox-{uuid.uuid4().hex[:8]}"
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    workers = Relay(queue, tmp_path / "outbox")
    try:
        yield workers
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        workers.stop()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")
