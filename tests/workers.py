"""Real Celery worker processes for tests, over the real broker, on a queue of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from config import celery_app
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parent.parent


def _redis_reachable() -> tuple[bool, str]:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return False, str(exc)
    return True, ""


def _test_database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "localhost", safe="")
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """Starts `celery worker` processes (one at a time is enough) on the test's queue; the test's
    own tasks go to that queue too. ``env`` adds to the worker's environment (e.g. PORTAL_NOW)."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.processes: list[subprocess.Popen] = []

    def start(self, **env: str) -> subprocess.Popen:
        environment = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=_test_database_url(),
            REDIS_URL=settings.REDIS_URL,
            CELERY_TASK_ALWAYS_EAGER="0",
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            # Messages the worker sends land where this test process reads them.
            NOTIFY_OUTBOX_DIR=str(settings.NOTIFY_OUTBOX_DIR),
            **env,
        )
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                self.queue,
                "-c",
                "1",
                "--pool",
                "solo",
                "-l",
                "WARNING",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=environment,
        )
        self.processes.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.processes:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(timeout=20)


@pytest.fixture
def workers() -> Iterator[Workers]:
    reachable, why = _redis_reachable()
    require_service("Redis", reachable, why)
    queue = f"regionpay-test-{uuid.uuid4().hex[:8]}"
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    pool = Workers(queue)
    try:
        yield pool
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        pool.stop_all()
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)


def wait_for(condition: Callable[[], object], *, timeout: float = 120, what: str = "the condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
