"""Celery tasks of the platform mirror: thin, idempotent, by id."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from coupons.services.import_runs import import_run_execute


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),  # the database went away: try again, the import is idempotent
    retry_backoff=5,
    max_retries=5,
)
def import_run_execute_task(run_id: int) -> None:
    import_run_execute(run_id=run_id)
