"""Eligibility runs: started from the admin, a command or beat; executed by a worker; recorded.

Progress lives in the cache (the run's own transaction is invisible to others until it ends).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from claims.models import EligibilityRun, Incident
from claims.services.eligibility import Checkpoint, eligibility_run, gates
from config import clock, runs
from coupons.services.ledger_changes import ledger_changes_unseen


def progress_key(run_id: int) -> str:
    return f"claims:eligibility-run:{run_id}:progress"


def eligibility_run_progress(*, run_id: int) -> dict[str, object] | None:
    return cache.get(progress_key(run_id))


class EligibilityRunActive(Exception):
    """A run of this incident is already queued or running (one at a time, by a constraint)."""

    def __init__(self, run: EligibilityRun | None) -> None:
        super().__init__(f"eligibility run #{run.pk if run else '?'} is already queued or running")
        self.run = run


def eligibility_run_create(
    *, incident: Incident, created_by: User | None, enqueue: bool = True
) -> EligibilityRun:
    """Record a run and, once the transaction commits, queue it for a worker. Raises
    :class:`EligibilityRunActive` when one is already on its way."""
    from claims.tasks import eligibility_run_execute_task  # tasks import services, not the reverse

    try:
        with transaction.atomic():
            return runs.run_create(
                EligibilityRun,
                enqueue=eligibility_run_execute_task.delay if enqueue else None,
                incident=incident,
                created_at=clock.now(),
                created_by=created_by,
            )
    except IntegrityError as exc:
        if _constraint(exc) != ONE_ACTIVE:
            raise
    raise EligibilityRunActive(runs.active_runs(EligibilityRun).filter(incident=incident).first())


ONE_ACTIVE = "eligibility_run_one_active_per_incident"


def _constraint(exc: IntegrityError) -> str | None:
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)


def eligibility_run_execute(
    *, run_id: int, full: bool = False, task_id: str = "", last_attempt: bool = True
) -> EligibilityRun:
    """Run the engine for a recorded run (one attempt, see ``config.runs.run_execute``):
    incremental from the last successful run's checkpoint when it can be, or ``full``. A finished
    or lost run is left as it is; an attempt that failed for a passing reason puts the run back in
    the queue for the task's retry (the engine is one transaction and idempotent)."""

    def progress(step: str, done: int, total: int) -> None:
        cache.set(progress_key(run_id), {"step": step, "done": done, "total": total}, 3600)

    def work(run: EligibilityRun) -> tuple[str, dict[str, object]]:
        as_of = clock.now()
        EligibilityRun.objects.filter(pk=run.pk).update(as_of=as_of)
        since = None if full else _last_checkpoint(run.incident)
        try:
            summary = eligibility_run(incident=run.incident, as_of=as_of, progress=progress, since=since)
        finally:
            cache.delete(progress_key(run_id))
        return EligibilityRun.Status.SUCCEEDED, {
            "as_of": as_of,
            "summary": summary.as_dict(),
            "checkpoint": summary.checkpoint.as_dict() if summary.checkpoint else {},
        }

    return runs.run_execute(
        EligibilityRun, run_id=run_id, task_id=task_id, last_attempt=last_attempt, work=work
    )


def eligibility_runs_mark_lost() -> list[EligibilityRun]:
    """Give up the runs whose worker is gone, so that a fresh one can start (beat's tick)."""
    return runs.runs_mark_lost(EligibilityRun)


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
    if runs.active_runs(EligibilityRun).filter(incident=incident).exists():
        return False  # one is on its way (a lost one was marked so by the tick before)
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
