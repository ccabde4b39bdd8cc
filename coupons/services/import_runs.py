"""Imports started by staff from the admin: stored uploads, run by a Celery worker, with progress.

``import_run_create`` stores the uploaded files and enqueues the run once the transaction commits;
``import_run_execute`` (the task's body) runs the import. Running it twice, or again after a worker
died half-way, is harmless: a finished run is left as it is, and the import itself is idempotent.
Progress lives in the cache (the import's own transaction is not visible to others until it ends).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import OperationalError, transaction

from config import clock
from coupons.models import ImportRun
from coupons.services.importing import regionpay_import

PROGRESS_SECONDS = 0.5


def progress_key(run_id: int) -> str:
    return f"coupons:import-run:{run_id}:progress"


def import_run_progress(*, run_id: int) -> dict[str, object] | None:
    """The latest progress of a running import: {file, phase, done, total}, or None."""
    return cache.get(progress_key(run_id))


def import_run_create(*, files: Sequence[UploadedFile], encoding: str, created_by: User | None) -> ImportRun:
    """Store the uploads under MEDIA_ROOT and queue their import."""
    from coupons.tasks import import_run_execute_task  # tasks import services, not the reverse

    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    stored = []
    for upload in files:
        name = Path(upload.name or "upload.csv").name
        path = folder / name
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        stored.append({"name": name, "path": str(path)})
    with transaction.atomic():
        run = ImportRun.objects.create(
            created_at=clock.now(), created_by=created_by, encoding=encoding, files=stored
        )
        transaction.on_commit(lambda: import_run_execute_task.delay(run.pk))
    return run


def import_run_execute(*, run_id: int) -> ImportRun:
    """Run a queued import (the Celery task's body)."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        if run.status in {ImportRun.Status.SUCCEEDED, ImportRun.Status.FAILED}:
            return run
        run.status = ImportRun.Status.RUNNING
        run.started_at = clock.now()
        run.save(update_fields=["status", "started_at"])

    last = 0.0

    def progress(file: str, phase: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if phase == "copy" and done < total and now - last < PROGRESS_SECONDS:
            return
        last = now
        cache.set(progress_key(run_id), {"file": file, "phase": phase, "done": done, "total": total}, 3600)

    try:
        outcome = regionpay_import(
            paths=[Path(item["path"]) for item in run.files], encoding=run.encoding, progress=progress
        )
    except OperationalError:
        raise  # the database went away: the task retries, and the run stays "running" meanwhile
    except Exception as exc:
        # Shown to staff on the run's page (never logged with values): the run must not hang.
        run.errors = [{"file": "", "line": 0, "column": "", "message": f"{type(exc).__name__}: {exc}"}]
        run.status = ImportRun.Status.FAILED
        run.finished_at = clock.now()
        run.save(update_fields=["errors", "status", "finished_at"])
        cache.delete(progress_key(run_id))
        raise
    run.results = [result.as_dict() for result in outcome.results]
    run.errors = [error.as_dict() for error in outcome.errors]
    run.status = ImportRun.Status.SUCCEEDED if outcome.ok else ImportRun.Status.FAILED
    run.finished_at = clock.now()
    run.save(update_fields=["results", "errors", "status", "finished_at"])
    cache.delete(progress_key(run_id))
    return run
