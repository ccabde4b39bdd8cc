"""Imports started by staff from the admin: stored uploads, run by a Celery worker, with progress.

``import_run_create`` stores the uploaded files and enqueues the run once the transaction commits;
``import_run_execute`` (the task's body) runs the import, with the lifecycle every run has
(``config.runs``: heartbeat, retry, lost); ``import_runs_replace_lost`` (beat) queues again an
import whose worker is gone. Running it twice, or again after a worker died half-way, is harmless:
a finished run is left as it is, and the import itself is idempotent.
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
from django.db import IntegrityError, transaction

from config import clock, runs
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
    return runs.run_create(
        ImportRun,
        enqueue=import_run_execute_task.delay,
        created_at=clock.now(),
        created_by=created_by,
        encoding=encoding,
        files=stored,
    )


def import_run_execute(*, run_id: int, task_id: str = "", last_attempt: bool = True) -> ImportRun:
    """Run a queued import, one attempt (the Celery task's body; see ``config.runs.run_execute``)."""
    last = 0.0

    def progress(file: str, phase: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if phase == "copy" and done < total and now - last < PROGRESS_SECONDS:
            return
        last = now
        cache.set(progress_key(run_id), {"file": file, "phase": phase, "done": done, "total": total}, 3600)

    def work(run: ImportRun) -> tuple[str, dict[str, object]]:
        try:
            outcome = regionpay_import(
                paths=[Path(item["path"]) for item in run.files], encoding=run.encoding, progress=progress
            )
        except runs.RETRYABLE:
            raise  # the database went away: the run goes back to the queue and the task retries
        except Exception as exc:
            # Shown to staff on the run's page (never logged with values): the run must not hang.
            ImportRun.objects.filter(pk=run.pk).update(
                errors=[{"file": "", "line": 0, "column": "", "message": f"{type(exc).__name__}: {exc}"}]
            )
            raise
        finally:
            cache.delete(progress_key(run_id))
        return ImportRun.Status.SUCCEEDED if outcome.ok else ImportRun.Status.FAILED, {
            "results": [result.as_dict() for result in outcome.results],
            "errors": [error.as_dict() for error in outcome.errors],
        }

    return runs.run_execute(ImportRun, run_id=run_id, task_id=task_id, last_attempt=last_attempt, work=work)


# A file that kills its worker every time (out of memory, say) is given up after this many tries.
MAX_REPLACEMENTS = 3


def import_runs_replace_lost() -> list[ImportRun]:
    """Mark lost the imports whose worker is gone, and queue each again as a new run of the same
    stored files (beat's tick). The import is idempotent: a file that had gone in is 'unchanged'."""
    from coupons.tasks import import_run_execute_task  # tasks import services, not the reverse

    runs.runs_mark_lost(ImportRun)
    fresh = []
    for lost in ImportRun.objects.filter(status=ImportRun.Status.LOST, replaced_by__isnull=True).order_by(
        "pk"
    ):
        if _chain_length(lost) > MAX_REPLACEMENTS:
            continue
        try:
            with transaction.atomic():
                fresh.append(
                    runs.run_create(
                        ImportRun,
                        enqueue=import_run_execute_task.delay,
                        created_at=clock.now(),
                        created_by=lost.created_by,
                        encoding=lost.encoding,
                        files=lost.files,
                        replaces=lost,
                    )
                )
        except IntegrityError:
            continue  # another tick replaced it at the same moment (one replacement, by the database)
    return fresh


def _chain_length(run: ImportRun) -> int:
    length = 1
    while run.replaces_id is not None:
        run = ImportRun.objects.only("pk", "replaces").get(pk=run.replaces_id)
        length += 1
    return length
