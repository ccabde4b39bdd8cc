"""Eligibility runs: started from the admin, a command or beat; executed by a worker; recorded.

Progress lives in the cache (the run's own transaction is invisible to others until it ends).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import BigIntegerField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from claims.models import EligibilityRun, Incident
from claims.services.eligibility import Checkpoint, eligibility_run, gates
from config import clock
from coupons.services.ledger_changes import ledger_changes_unseen


def progress_key(run_id: int) -> str:
    return f"claims:eligibility-run:{run_id}:progress"


def eligibility_run_progress(*, run_id: int) -> dict[str, object] | None:
    return cache.get(progress_key(run_id))


def eligibility_run_create(
    *, incident: Incident, created_by: User | None, enqueue: bool = True
) -> EligibilityRun:
    """Record a run and, once the transaction commits, queue it for a worker."""
    from claims.tasks import eligibility_run_execute_task  # tasks import services, not the reverse

    with transaction.atomic():
        run = EligibilityRun.objects.create(incident=incident, created_at=clock.now(), created_by=created_by)
        if enqueue:
            transaction.on_commit(lambda: eligibility_run_execute_task.delay(run.pk))
    return run


def eligibility_run_execute(*, run_id: int, full: bool = False) -> EligibilityRun:
    """Run the engine for a recorded run: incremental from the last successful run's checkpoint
    when it can be, or ``full``. A finished run is left as it is; a run whose worker died is simply
    run again (the engine is one transaction and idempotent)."""
    with transaction.atomic():
        run = EligibilityRun.objects.select_for_update().select_related("incident").get(pk=run_id)
        if run.status in {EligibilityRun.Status.SUCCEEDED, EligibilityRun.Status.FAILED}:
            return run
        run.status = EligibilityRun.Status.RUNNING
        run.started_at = clock.now()
        run.as_of = run.started_at
        run.save(update_fields=["status", "started_at", "as_of"])

    def progress(step: str, done: int, total: int) -> None:
        cache.set(progress_key(run_id), {"step": step, "done": done, "total": total}, 3600)

    since = None if full else _last_checkpoint(run.incident)
    try:
        summary = eligibility_run(incident=run.incident, as_of=run.as_of, progress=progress, since=since)
    except Exception as exc:
        run.status = EligibilityRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        run.finished_at = clock.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    finally:
        cache.delete(progress_key(run_id))
    run.status = EligibilityRun.Status.SUCCEEDED
    run.summary = summary.as_dict()
    run.checkpoint = summary.checkpoint.as_dict() if summary.checkpoint else {}
    run.finished_at = clock.now()
    run.save(update_fields=["status", "summary", "checkpoint", "finished_at"])
    return run


def _last_checkpoint(incident: Incident) -> Checkpoint | None:
    """The checkpoint of the incident's successful run that has seen the most (runs are serialised,
    but a queued run may execute after a later one: order by what they saw, not when)."""
    seen = Cast(KT("checkpoint__xact"), BigIntegerField())
    latest = (
        incident.runs.filter(status=EligibilityRun.Status.SUCCEEDED, checkpoint__has_key="xact")
        .order_by(seen.desc(nulls_last=True), "-pk")
        .values_list("checkpoint", flat=True)
        .first()
    )
    return Checkpoint.from_dict(latest) if latest else None


def eligibility_due(*, incident: Incident, now: dt.datetime) -> bool:
    """True when a run has something to do: a cut-off (see ``eligibility.gates``) has passed since
    the last successful run, or data arrived since it."""
    if incident.runs.filter(
        status__in=[EligibilityRun.Status.QUEUED, EligibilityRun.Status.RUNNING]
    ).exists():
        return False  # one is on its way
    last = (
        incident.runs.filter(status=EligibilityRun.Status.SUCCEEDED, as_of__isnull=False)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )
    opened = gates(incident, now)
    if opened != (gates(incident, last) if last else ()):
        return True  # a cut-off has passed since the last run
    if not opened:
        return False  # nothing can be decided yet
    checkpoint = _last_checkpoint(incident)
    # (Without a checkpoint — runs recorded before runs had one — any change makes a full run due.)
    return ledger_changes_unseen(
        since=checkpoint.xact if checkpoint else None,
        snapshot=checkpoint.snapshot if checkpoint else None,
    )
