"""Runs: work recorded in a row, done by a Celery worker, and never left stalled.

One lifecycle for every kind of run (the eligibility engine's ``claims.EligibilityRun`` and the
importer's ``coupons.ImportRun``). It lives in ``config`` — beside the clock, not in a domain app —
because ``coupons`` may import no other app and ``claims`` imports ``coupons``: the only place both
can reach without an arrow pointing up is the project package. It knows nothing of the domain: a
concrete run model inherits :class:`Run`, and its service passes the work to :func:`run_execute`.

The states and their moves are the table :data:`TRANSITIONS`; every status write goes through it::

    queued ──► running ──► succeeded | failed
      │  ▲        │
      │  └────────┘  an attempt failed for a passing reason (the database went away): the task retries
      └──────┴─────► lost  no sign of life for RUNS_LOST_AFTER_MINUTES (the worker died, or the
                           message was lost with it); the caller's beat tick starts a fresh run

Liveness is measured with the database's clock (``Now()``) on both sides, the writer's heartbeat
and the sweep: the portal's clock may be pinned (``PORTAL_NOW``, demo and replays) and would never
see time pass. A queued run's heartbeat is its creation; a running run's is written every
``RUNS_HEARTBEAT_SECONDS`` by a thread of its own on its own connection, so that it goes on while
the work is inside one long transaction or one long statement, and stops when the process dies.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, models, transaction
from django.db.models import Q
from django.db.models.functions import Now

from config import clock

# Errors that say nothing about the work itself: the database went away or restarted. The task
# retries these; anything else fails the run at once (retrying a wrong file gives the same answer).
RETRYABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


class Run(models.Model):
    """The lifecycle fields of a run; a concrete model adds what its work needs and reads."""

    class Status(models.TextChoices):
        QUEUED = "queued", "待機中"
        RUNNING = "running", "実行中"
        SUCCEEDED = "succeeded", "完了"
        FAILED = "failed", "失敗（変更なし）"
        LOST = "lost", "中断（作業者の応答なし・変更なし）"

    status = models.CharField("状態", max_length=16, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField("開始", null=True, blank=True)
    finished_at = models.DateTimeField("終了", null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        "最終応答", null=True, blank=True, help_text="作業者が最後に応答した時刻（データベースの時計）"
    )
    attempts = models.PositiveSmallIntegerField("試行回数", default=0)
    task_id = models.CharField("タスクID", max_length=64, blank=True)
    error = models.TextField("エラー", blank=True)

    class Meta:
        abstract = True


ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING)
FINISHED = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.LOST)

# The one table of moves. running → running is a worker taking over a run whose previous attempt
# died without a word (its heartbeat stale) — the work is one transaction, so nothing was left.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    Run.Status.QUEUED: frozenset({Run.Status.RUNNING, Run.Status.LOST}),
    Run.Status.RUNNING: frozenset(
        {Run.Status.RUNNING, Run.Status.QUEUED, Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.LOST}
    ),
    Run.Status.SUCCEEDED: frozenset(),
    Run.Status.FAILED: frozenset(),
    Run.Status.LOST: frozenset(),
}


class RunTransitionError(Exception):
    def __init__(self, run: Run, to: str) -> None:
        super().__init__(f"{type(run).__name__} #{run.pk} is {run.status}: it cannot become {to}")
        self.run, self.to = run, to


R = TypeVar("R", bound=Run)


def _move(run: Run, to: str, **fields: Any) -> None:
    """Write one move of the table (the caller holds the row's lock)."""
    if to not in TRANSITIONS[run.status]:
        raise RunTransitionError(run, to)
    run.status = to
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=["status", *fields])


def lost_after() -> dt.timedelta:
    return dt.timedelta(minutes=float(settings.RUNS_LOST_AFTER_MINUTES))


def active_runs(model: type[R]) -> models.QuerySet[R]:
    return model._default_manager.filter(status__in=ACTIVE)


def run_create(model: type[R], *, enqueue: Callable[[int], object] | None, **fields: Any) -> R:
    """Record a queued run and, once the transaction commits, hand its id to ``enqueue`` (the
    task's ``delay``). Its heartbeat starts now: a message lost before any worker took it is found
    like a worker that died."""
    with transaction.atomic():
        run = model._default_manager.create(status=Run.Status.QUEUED, heartbeat_at=Now(), **fields)
        run.refresh_from_db(fields=["heartbeat_at"])
        if enqueue is not None:
            pk = run.pk
            transaction.on_commit(lambda: enqueue(pk))
    return run


def run_start(model: type[R], *, run_id: int, task_id: str = "") -> R | None:
    """Take a run for this attempt; None when there is nothing to do (finished, lost, or alive in
    another worker)."""
    stale = Now() - dt.timedelta(seconds=2 * float(settings.RUNS_HEARTBEAT_SECONDS))
    with transaction.atomic():
        run = model._default_manager.select_for_update().get(pk=run_id)
        if run.status in FINISHED:
            return None
        if run.status == Run.Status.RUNNING and not _stale(model, run_id, stale):
            return None  # alive in another worker (a message delivered twice)
        first = run.started_at is None
        _move(
            run,
            Run.Status.RUNNING,
            started_at=clock.now() if first else run.started_at,
            heartbeat_at=Now(),
            attempts=run.attempts + 1,
            task_id=task_id,
        )
    return run


def _stale(model: type[Run], run_id: int, before: Any) -> bool:
    return (
        model._default_manager.filter(pk=run_id)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=before))
        .exists()
    )


@contextmanager
def heartbeat(model: type[Run], *, run_id: int) -> Iterator[None]:
    """While the block runs, write the run's heartbeat every RUNS_HEARTBEAT_SECONDS from a thread
    with its own database connection (Django's connections are per thread)."""
    stop = threading.Event()
    interval = float(settings.RUNS_HEARTBEAT_SECONDS)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model._default_manager.filter(pk=run_id, status=Run.Status.RUNNING).update(
                        heartbeat_at=Now()
                    )
                except RETRYABLE:
                    connection.close()  # the database is away: try again on a new connection
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{model._meta.label}-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_execute(
    model: type[R],
    *,
    run_id: int,
    task_id: str = "",
    last_attempt: bool = True,
    work: Callable[[R], tuple[str, dict[str, Any]]],
) -> R:
    """Run one attempt: take the run, do ``work`` under a heartbeat, record its outcome.

    ``work`` returns the final status (succeeded or failed) and the fields to save with it. When it
    raises a :data:`RETRYABLE` error and this is not the ``last_attempt``, the run goes back to
    queued (with the error noted) so that the task's retry really runs it again; any other error,
    or the last attempt's, fails it. The error is re-raised either way for the task to see.
    """
    run = run_start(model, run_id=run_id, task_id=task_id)
    if run is None:
        return model._default_manager.get(pk=run_id)
    try:
        with heartbeat(model, run_id=run_id):
            status, fields = work(run)
    except RETRYABLE as exc:
        _record_failure(model, run_id, exc, retrying=not last_attempt)
        raise
    except Exception as exc:
        _record_failure(model, run_id, exc, retrying=False)
        raise
    with transaction.atomic():
        run = model._default_manager.select_for_update().get(pk=run_id)
        if run.status == Run.Status.RUNNING:  # (not if the sweep has given it up meanwhile)
            _move(run, status, finished_at=clock.now(), **fields)
    return run


def _record_failure(model: type[Run], run_id: int, exc: Exception, *, retrying: bool) -> None:
    message = f"{type(exc).__name__}: {exc}"
    for _ in range(2):  # the connection may be the thing that broke: once more on a new one
        try:
            with transaction.atomic():
                run = model._default_manager.select_for_update().get(pk=run_id)
                if run.status != Run.Status.RUNNING:
                    return  # marked lost meanwhile: leave it
                if retrying:
                    _move(
                        run,
                        Run.Status.QUEUED,
                        error=f"試行 {run.attempts} 回目が失敗、再試行します: {message}",
                    )
                else:
                    _move(run, Run.Status.FAILED, error=message, finished_at=clock.now())
            return
        except RETRYABLE:
            connection.close()
    # Still unreachable: the run stays "running" without a heartbeat and the sweep will find it.


def runs_mark_lost(model: type[R]) -> list[R]:
    """Mark lost every queued or running run with no sign of life for RUNS_LOST_AFTER_MINUTES.
    A run whose row a worker holds right now is skipped (it is alive)."""
    cutoff = Now() - lost_after()
    with transaction.atomic():
        runs = list(
            model._default_manager.select_for_update(skip_locked=True)
            .filter(status__in=ACTIVE)
            .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff))
            .order_by("pk")
        )
        for run in runs:
            _move(
                run,
                Run.Status.LOST,
                finished_at=clock.now(),
                error=(
                    f"{float(settings.RUNS_LOST_AFTER_MINUTES):g} 分以上作業者の応答がないため"
                    "中断とみなしました"
                    f"（{run.get_status_display()}、試行 {run.attempts} 回）。"
                ),
            )
    return runs
