"""Celery tasks of the rules' room: thin, idempotent, by id."""

from __future__ import annotations

from contextlib import suppress

from celery import Task, shared_task

from claims.models import Incident
from claims.services.runs import (
    EligibilityRunActive,
    eligibility_due,
    eligibility_run_create,
    eligibility_run_execute,
    eligibility_runs_mark_lost,
)
from config import clock
from config.runs import RETRYABLE


@shared_task(bind=True, acks_late=True, autoretry_for=RETRYABLE, retry_backoff=5, max_retries=5)
def eligibility_run_execute_task(self: Task, run_id: int) -> None:
    # Until the last retry, a failed attempt puts the run back in the queue: the retry runs it.
    eligibility_run_execute(
        run_id=run_id,
        task_id=self.request.id or "",
        last_attempt=self.request.retries >= (self.max_retries or 0),
    )


@shared_task
def eligibility_tick_task() -> None:
    """Beat calls this every few minutes. A run whose worker is gone is marked lost first; then a
    run starts just after each cut-off the clock passes, after new data arrived (an incremental
    run, cheap), and in place of a lost run. The cut-offs are the incident's data, so a corrected
    date needs no new schedule."""
    eligibility_runs_mark_lost()
    now = clock.now()
    for incident in Incident.objects.all():
        if eligibility_due(incident=incident, now=now):
            with suppress(EligibilityRunActive):  # the admin or the command started one meanwhile
                eligibility_run_create(incident=incident, created_by=None)
