"""Celery tasks of the platform mirror: thin, idempotent, by id."""

from __future__ import annotations

from celery import Task, shared_task

from config.runs import RETRYABLE
from coupons.services.import_runs import import_run_execute, import_runs_replace_lost


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=RETRYABLE,  # the database went away: try again, the import is idempotent
    retry_backoff=5,
    max_retries=5,
)
def import_run_execute_task(self: Task, run_id: int) -> None:
    # Until the last retry, a failed attempt puts the run back in the queue: the retry runs it.
    import_run_execute(
        run_id=run_id,
        task_id=self.request.id or "",
        last_attempt=self.request.retries >= (self.max_retries or 0),
    )


@shared_task
def import_runs_tick_task() -> None:
    """Beat calls this every few minutes: an import whose worker is gone is queued again."""
    import_runs_replace_lost()
