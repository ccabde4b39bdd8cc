"""Celery tasks of the rules' room: thin, idempotent, by id."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from claims.models import Incident
from claims.services.runs import eligibility_due, eligibility_run_create, eligibility_run_execute
from config import clock


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def eligibility_run_execute_task(run_id: int) -> None:
    eligibility_run_execute(run_id=run_id)


@shared_task
def eligibility_tick_task() -> None:
    """Beat calls this every few minutes; a run starts just after each cut-off the clock passes,
    and after new data arrived (an incremental run, cheap). The cut-offs are the incident's data,
    so a corrected date needs no new schedule."""
    now = clock.now()
    for incident in Incident.objects.all():
        if eligibility_due(incident=incident, now=now):
            eligibility_run_create(incident=incident, created_by=None)
