"""A real Celery worker process, over the real broker, runs an import queued from the admin's service."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from config import celery_app
from coupons.models import Coupon, ImportRun, Store
from coupons.services.import_runs import import_run_create
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


@pytest.fixture
def worker_queue():
    """Start `celery worker` as its own process on a queue of this test's own; stop it after."""
    reachable, why = _redis_reachable()
    require_service("Redis", reachable, why)
    queue = f"regionpay-test-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        # Messages the worker sends land where this test process reads them.
        NOTIFY_OUTBOX_DIR=str(settings.NOTIFY_OUTBOX_DIR),
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
            queue,
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
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_uploaded_import_is_run_by_a_real_worker_and_its_rows_land(worker_queue) -> None:
    # Given two uploaded files, queued through the admin's service
    stores = SimpleUploadedFile(
        "stores.csv", "store_id,store_name,prefecture_code\nS1,館山海鮮市場,12\n".encode()
    )
    coupons = SimpleUploadedFile(
        "coupons.csv",
        (
            "inquiry_number,face_value_yen,issued_at,expires_on,issuing_shop,prefecture_code\n"
            "CB0000000001,3000,2023-02-23T10:00:00+09:00,2023-02-24,房総トラベル,12\n"
        ).encode(),
    )
    run = import_run_create(files=[coupons, stores], encoding="utf-8", created_by=None)

    # When the worker picks it up
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in {ImportRun.Status.SUCCEEDED, ImportRun.Status.FAILED}:
            break
        time.sleep(0.25)

    # Then the run succeeded in the worker process and its rows are in the database
    assert run.status == ImportRun.Status.SUCCEEDED, run.errors
    assert [r["kind"] for r in run.results] == ["stores", "coupons"]
    assert Store.objects.get().store_name == "館山海鮮市場"
    assert Coupon.objects.get().inquiry_number == "CB0000000001"
