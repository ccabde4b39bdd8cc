"""Import runs share the lifecycle of every run (config/runs.py): an import whose worker was killed
is marked lost by beat's tick and queued again as a new run of the same files, which lands."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from coupons.models import Coupon, ImportRun, Store
from coupons.services.import_runs import MAX_REPLACEMENTS, import_run_create, import_run_execute
from coupons.tasks import import_runs_tick_task
from tests.claims.test_runs import LOST_AFTER_MINUTES, WORKER_ENV, _gone, _kill, _waiting
from tests.threads import held_open
from tests.workers import Workers, wait_for


def _uploads() -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(
            "stores.csv", "store_id,store_name,prefecture_code\nS1,館山海鮮市場,12\n".encode()
        ),
        SimpleUploadedFile(
            "coupons.csv",
            (
                "inquiry_number,face_value_yen,issued_at,expires_on,issuing_shop,prefecture_code\n"
                "CB0000000001,3000,2023-02-23T10:00:00+09:00,2023-02-24,房総トラベル,12\n"
            ).encode(),
        ),
    ]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_was_killed_is_queued_again_by_the_tick_and_lands(
    workers: Workers,
    settings,
) -> None:
    settings.RUNS_LOST_AFTER_MINUTES = LOST_AFTER_MINUTES
    # Given an uploaded import whose message a worker has taken, killed before it could start
    run = import_run_create(files=_uploads(), encoding="utf-8", created_by=None)
    with held_open(lambda: ImportRun.objects.select_for_update().get(pk=run.pk)):
        first = workers.start(**WORKER_ENV)
        blocked = wait_for(lambda: _waiting("row"), what="the worker to take the import's message")
        _kill(first)
    wait_for(lambda: _gone(blocked), what="the killed worker's database session to end")
    run.refresh_from_db()
    assert run.status == ImportRun.Status.QUEUED
    assert not Store.objects.exists()
    assert not Coupon.objects.exists()

    # When its silence outlasts the setting and beat's tick runs (twice: the second adds nothing)
    time.sleep(LOST_AFTER_MINUTES * 60 + 0.5)
    import_runs_tick_task()
    import_runs_tick_task()

    # Then it is lost, queued again once as a new run of the same files, which a new worker lands
    run.refresh_from_db()
    assert run.status == ImportRun.Status.LOST
    fresh = ImportRun.objects.get(replaces=run)
    assert ImportRun.objects.count() == 2
    assert (fresh.files, fresh.encoding) == (run.files, run.encoding)
    workers.start(**WORKER_ENV)
    wait_for(
        lambda: (
            ImportRun.objects.get(pk=fresh.pk).status in {ImportRun.Status.SUCCEEDED, ImportRun.Status.FAILED}
        ),
        what="the new import run to finish",
    )
    fresh.refresh_from_db()
    assert fresh.status == ImportRun.Status.SUCCEEDED, fresh.errors
    assert Store.objects.get().store_name == "館山海鮮市場"
    assert Coupon.objects.get().inquiry_number == "CB0000000001"


@pytest.mark.django_db
def test_an_import_lost_again_and_again_is_given_up(settings, django_capture_on_commit_callbacks) -> None:
    settings.RUNS_LOST_AFTER_MINUTES = 10
    with django_capture_on_commit_callbacks(execute=True):
        run = import_run_create(files=_uploads(), encoding="utf-8", created_by=None)  # eager: lands
    ImportRun.objects.filter(pk=run.pk).update(status="lost")
    chain = [run.pk]
    for _ in range(MAX_REPLACEMENTS):
        with django_capture_on_commit_callbacks(execute=True):
            import_runs_tick_task()
        fresh = ImportRun.objects.get(replaces_id=chain[-1])
        assert fresh.status == "succeeded"  # eager here: it ran at once
        ImportRun.objects.filter(pk=fresh.pk).update(status="lost")
        chain.append(fresh.pk)

    import_runs_tick_task()

    assert ImportRun.objects.count() == MAX_REPLACEMENTS + 1
    assert not ImportRun.objects.filter(replaces_id=chain[-1]).exists()


@pytest.mark.django_db
def test_an_import_run_that_fails_on_its_file_is_failed_at_once_not_retried() -> None:
    bad = SimpleUploadedFile("stores.csv", b"store_id,store_name,prefecture_code\nS1,X,99\n")
    run = import_run_create(files=[bad], encoding="utf-8", created_by=None)

    run = import_run_execute(run_id=run.pk, task_id="t", last_attempt=False)

    assert (run.status, run.attempts) == ("failed", 1)
    assert run.errors
    assert not Store.objects.exists()
