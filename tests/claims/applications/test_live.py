"""The contract end to end: a live server, a real Celery worker process over Redis, the file
backend of the outbox. Apply → the code file appears → verify → the confirmation file appears →
look it up. And a worker killed between an application's commit and its message: after a
restart the code is sent exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from claims.models import Application
from claims.services import applications as svc
from config import celery_app
from notifications.models import Message
from tests.claims.applications.conftest import application_body
from tests.conftest import require_service
from tests.test_worker import _redis_reachable, _test_database_url

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class Workers:
    """Celery worker processes on a queue of this test's own, writing messages to ``outbox``."""

    def __init__(self, queue: str, outbox: Path) -> None:
        self.queue, self.outbox = queue, outbox
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=_test_database_url(),
            REDIS_URL=settings.REDIS_URL,
            CELERY_TASK_ALWAYS_EAGER="0",
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            NOTIFY_BACKEND="file",
            NOTIFY_OUTBOX_DIR=str(self.outbox),
            NOTIFY_SWEEP_GRACE_SECONDS="0",  # a sweep takes every pending row (beat's job, sped up)
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
            env=env,
        )
        self.running.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.running:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()


@pytest.fixture
def workers(tmp_path: Path, settings) -> Iterator[Workers]:
    reachable, why = _redis_reachable()
    require_service("Redis", reachable, why)
    queue = f"regionpay-test-{uuid.uuid4().hex[:8]}"
    outbox = tmp_path / "outbox"
    settings.NOTIFY_OUTBOX_DIR = outbox
    pool = Workers(queue, outbox)
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        yield pool
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        pool.stop_all()


def files_for(outbox: Path, reference: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(outbox.glob("*.json")) if outbox.exists() else []:
        payload = json.loads(path.read_text())
        if payload["reference"] == reference:
            found.append(payload)
    return found


def wait_for(condition: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("waited in vain")


def http(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - http to the live server
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the live server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def code_in(message: dict[str, Any]) -> str:
    import re

    match = re.search(r"\b(\d{6})\b", message["body"])
    assert match, message
    return match[1]


def test_apply_code_file_verify_confirmation_lookup_through_a_live_server_and_worker(
    live_server, workers, portal_clock, paper_coupon
) -> None:
    workers.start()
    api = f"{live_server.url}/api/v1"

    status, created = http(
        f"{api}/applications", application_body(paper_coupon), {"Idempotency-Key": "live-key-1"}
    )
    assert status == 201, created
    application_id = created["application_id"]

    (code_file,) = wait_for(lambda: files_for(workers.outbox, application_id))
    assert (code_file["channel"], code_file["to"]) == ("sms", "+819012345678")
    assert code_file["subject"]

    status, verified = http(f"{api}/applications/{application_id}/verification", {"code": code_in(code_file)})
    assert status == 200, verified
    reference = verified["reference_number"]

    (confirmation,) = wait_for(lambda: files_for(workers.outbox, reference))
    assert reference in confirmation["body"]
    assert confirmation["to"] == "+819012345678"

    status, found = http(
        f"{api}/status-lookups", {"reference_number": reference, "contact": "+81 90 1234 5678"}
    )
    assert (status, found["status"]) == (200, "submitted")


def test_worker_killed_between_commit_and_message_sends_the_code_exactly_once(
    workers, portal_clock, paper_coupon
) -> None:
    from notifications.tasks import message_sweep_task

    first = workers.start()
    time.sleep(3)  # let it connect and wait on the queue
    first.send_signal(signal.SIGSTOP)  # frozen: it may take the task off the queue but cannot run it

    created = svc.application_create(data=application_body(paper_coupon), idempotency_key="killed-worker-key")
    application_id = str(created.application.public_id)
    time.sleep(1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert files_for(workers.outbox, application_id) == []
    message = Message.objects.get(reference=application_id)
    assert message.status == "pending"

    workers.start()  # the restart, and beat's sweep for what the dead worker held
    message_sweep_task.delay()
    wait_for(lambda: files_for(workers.outbox, application_id))
    message_sweep_task.delay()  # sweeping again finds nothing left to send
    time.sleep(3)

    assert len(files_for(workers.outbox, application_id)) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert Application.objects.get().status == "awaiting_verification"
