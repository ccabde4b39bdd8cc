"""A real Celery worker process, over the real broker, runs an import queued from the admin's service."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from coupons.models import Coupon, ImportRun, Store
from coupons.services.import_runs import import_run_create
from tests.workers import ROOT, Workers, _redis_reachable, _test_database_url  # noqa: F401 (imported from here by older tests)


@pytest.fixture
def worker_queue(workers: Workers) -> str:
    """A `celery worker` process of its own on a queue of this test's own; stopped after."""
    workers.start()
    return workers.queue


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
