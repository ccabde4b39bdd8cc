"""Runs that never stall (config/runs.py): one active eligibility run per incident, a run whose
worker is gone is marked lost and the next tick starts a fresh one, a retried task runs again —
for eligibility runs and import runs alike, with real worker processes killed for real."""

from __future__ import annotations

import datetime as dt
import io
import signal
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from claims.models import EligibilityRun, Entitlement, Incident
from claims.services.eligibility import ADVISORY_LOCK
from claims.services.runs import EligibilityRunActive, eligibility_run_create, eligibility_run_execute
from claims.tasks import eligibility_tick_task
from config.runs import RunTransitionError, _move, runs_mark_lost
from coupons.models import Coupon
from tests.factories import CouponFactory, MovementFactory, StoreFactory, jst
from tests.threads import held_open
from tests.workers import Workers, wait_for

AFTER_FINAL = "2023-04-10T10:00:00+09:00"
# In the worker processes: a heartbeat every half second, so that a test need not wait long.
WORKER_ENV = {"PORTAL_NOW": AFTER_FINAL, "RUNS_HEARTBEAT_SECONDS": "0.5"}
LOST_AFTER_MINUTES = 0.05  # 3 s


def _ledger() -> Coupon:
    """A 1-1 coupon: expired on the outage day with 2,000 yen left."""
    store = StoreFactory()
    coupon = CouponFactory(expires_on=dt.date(2023, 2, 24))
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(
        coupon=coupon, kind="payment", amount_yen=-1000, store=store, occurred_at=jst(2023, 2, 24, 12)
    )
    return coupon


def _waiting(event: str) -> list[int]:
    """Backends of the test database (other than ours) waiting for a lock of this kind."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND wait_event = ANY(%s)",
            [[event] if event != "row" else ["tuple", "transactionid"]],
        )
        return [pid for (pid,) in cursor.fetchall()]


def _gone(pids: list[int]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
        return cursor.fetchone()[0] == 0


def _kill(worker) -> None:
    worker.send_signal(signal.SIGKILL)  # no warm shutdown, no message given back
    worker.wait(timeout=20)
    assert worker.returncode == -signal.SIGKILL


# --- with real workers -----------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_holding_a_queued_run_is_replaced_by_the_next_tick_and_the_fresh_run_completes(
    incident: Incident,
    workers: Workers,
    settings,
    monkeypatch,
) -> None:
    monkeypatch.setenv("PORTAL_NOW", AFTER_FINAL)
    settings.RUNS_LOST_AFTER_MINUTES = LOST_AFTER_MINUTES
    coupon = _ledger()
    # Given a queued run whose message a worker has taken: it waits for the run's row, held here,
    # so the run is still queued when the worker is killed
    run = eligibility_run_create(incident=incident, created_by=None)
    with held_open(lambda: EligibilityRun.objects.select_for_update().get(pk=run.pk)):
        first = workers.start(**WORKER_ENV)
        blocked = wait_for(lambda: _waiting("row"), what="the worker to take the run's message")
        _kill(first)
    wait_for(lambda: _gone(blocked), what="the killed worker's database session to end")
    run.refresh_from_db()
    assert (run.status, run.attempts) == (EligibilityRun.Status.QUEUED, 0)
    assert EligibilityRun.objects.count() == 1
    assert not Entitlement.objects.exists()

    # When no sign of life came for longer than the setting, and beat's tick runs
    time.sleep(LOST_AFTER_MINUTES * 60 + 0.5)
    eligibility_tick_task()

    # Then the run is lost and a fresh one is queued, which a restarted worker completes
    run.refresh_from_db()
    assert run.status == EligibilityRun.Status.LOST
    assert "応答がない" in run.error
    fresh = EligibilityRun.objects.exclude(pk=run.pk).get()
    assert fresh.status == EligibilityRun.Status.QUEUED
    workers.start(**WORKER_ENV)
    wait_for(
        lambda: EligibilityRun.objects.get(pk=fresh.pk).status == EligibilityRun.Status.SUCCEEDED,
        what="the fresh run to succeed",
    )
    entitlement = Entitlement.objects.get(coupon=coupon)
    assert (entitlement.category, entitlement.amount_yen) == ("1-1", 2000)
    run.refresh_from_db()
    assert run.status == EligibilityRun.Status.LOST  # a record; never run


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_retried_eligibility_task_runs_the_run_again(
    incident: Incident,
    workers: Workers,
    monkeypatch,
) -> None:
    monkeypatch.setenv("PORTAL_NOW", AFTER_FINAL)
    coupon = _ledger()

    def hold_the_engine() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK, incident.pk])

    # Given a run started by a real worker and waiting inside the engine
    run = eligibility_run_create(incident=incident, created_by=None)
    with held_open(hold_the_engine):
        workers.start(**WORKER_ENV)
        waiting = wait_for(lambda: _waiting("advisory"), what="the run to wait for the engine's lock")
        run.refresh_from_db()
        assert (run.status, run.attempts) == (EligibilityRun.Status.RUNNING, 1)
        # When its database session is cut (the database restarted, say): an OperationalError
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [waiting])
        wait_for(lambda: _gone(waiting), what="the cut session to end")
    # Then the failed attempt put the run back in the queue (not in "failed", where a retry would
    # find nothing to do), and the task's retry really runs it again, to the end
    wait_for(
        lambda: (
            EligibilityRun.objects.get(pk=run.pk).status
            in {EligibilityRun.Status.SUCCEEDED, EligibilityRun.Status.FAILED}
        ),
        what="the retry to finish",
    )
    run.refresh_from_db()
    assert (run.status, run.attempts) == (EligibilityRun.Status.SUCCEEDED, 2)
    assert run.error.startswith("試行 1 回目が失敗、再試行します: OperationalError")
    assert Entitlement.objects.get(coupon=coupon).amount_yen == 2000


# --- the lifecycle's rules, in one process ---------------------------------------------------


@pytest.mark.django_db
def test_one_active_run_per_incident_is_held_by_the_database(incident: Incident) -> None:
    first = eligibility_run_create(incident=incident, created_by=None, enqueue=False)

    with pytest.raises(EligibilityRunActive) as refused:
        eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    assert refused.value.run == first
    with pytest.raises(IntegrityError, match="eligibility_run_one_active_per_incident"), transaction.atomic():
        EligibilityRun.objects.create(incident=incident, created_at=timezone.now(), status="running")
    assert list(EligibilityRun.objects.all()) == [first]

    # A finished run does not count
    EligibilityRun.objects.filter(pk=first.pk).update(status=EligibilityRun.Status.SUCCEEDED)
    eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    assert EligibilityRun.objects.count() == 2


@pytest.mark.django_db
def test_the_command_refuses_while_a_run_is_on_its_way_and_changes_nothing(
    incident: Incident, monkeypatch
) -> None:
    monkeypatch.setenv("PORTAL_NOW", AFTER_FINAL)
    _ledger()
    queued = eligibility_run_create(incident=incident, created_by=None, enqueue=False)

    with pytest.raises(CommandError, match=rf"eligibility run #{queued.pk} is already queued or running"):
        call_command("run_eligibility", stdout=io.StringIO())
    assert list(EligibilityRun.objects.all()) == [queued]
    assert not Entitlement.objects.exists()


@pytest.mark.django_db
def test_only_a_silent_run_is_lost(incident: Incident, settings) -> None:
    settings.RUNS_LOST_AFTER_MINUTES = 10
    alive = eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    assert runs_mark_lost(EligibilityRun) == []

    EligibilityRun.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=9))
    assert runs_mark_lost(EligibilityRun) == []
    EligibilityRun.objects.filter(pk=alive.pk).update(
        status="running", heartbeat_at=timezone.now() - dt.timedelta(minutes=11)
    )
    assert runs_mark_lost(EligibilityRun) == [alive]
    alive.refresh_from_db()
    assert alive.status == EligibilityRun.Status.LOST
    assert alive.finished_at is not None

    # A finished run is never lost, however old
    done = eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    EligibilityRun.objects.filter(pk=done.pk).update(status="succeeded", heartbeat_at=None)
    assert runs_mark_lost(EligibilityRun) == []


@pytest.mark.django_db
def test_a_message_delivered_twice_while_its_run_is_alive_does_nothing(incident: Incident) -> None:
    run = eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    EligibilityRun.objects.filter(pk=run.pk).update(status="running", attempts=1, task_id="first")

    again = eligibility_run_execute(run_id=run.pk, task_id="second")

    assert (again.status, again.attempts, again.task_id) == ("running", 1, "first")
    assert not Entitlement.objects.exists()


@pytest.mark.django_db
def test_a_lost_run_is_never_run_and_moves_outside_the_table_are_refused(incident: Incident) -> None:
    run = eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    EligibilityRun.objects.filter(pk=run.pk).update(status="lost")

    assert eligibility_run_execute(run_id=run.pk).status == "lost"
    run.refresh_from_db()
    assert (run.status, run.attempts, run.started_at) == ("lost", 0, None)
    with pytest.raises(RunTransitionError, match="is lost: it cannot become running"):
        _move(run, "running")


@pytest.mark.django_db
def test_the_tick_starts_a_fresh_run_in_place_of_a_lost_one(
    incident: Incident, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    monkeypatch.setenv("PORTAL_NOW", AFTER_FINAL)
    settings.RUNS_LOST_AFTER_MINUTES = 10
    _ledger()
    stalled = eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    eligibility_tick_task()  # alive: nothing starts
    assert list(EligibilityRun.objects.all()) == [stalled]

    EligibilityRun.objects.filter(pk=stalled.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=11)
    )
    with django_capture_on_commit_callbacks(execute=True):
        eligibility_tick_task()  # (eager here: the fresh run runs at once)

    stalled.refresh_from_db()
    assert stalled.status == "lost"
    fresh = EligibilityRun.objects.exclude(pk=stalled.pk).get()
    assert fresh.status == "succeeded"
    assert Entitlement.objects.get().amount_yen == 2000


@pytest.mark.django_db
def test_the_admin_does_not_start_a_second_run_and_shows_the_one_on_its_way(
    incident: Incident, staff_client
) -> None:
    client = staff_client("operations")
    queued = eligibility_run_create(incident=incident, created_by=None, enqueue=False)

    response = client.post(reverse("admin:claims_eligibilityrun_add"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:claims_eligibilityrun_change", args=[queued.pk])
    assert (
        f"判定 #{queued.pk} が待機中または実行中です。終わってから開始してください。"
        in response.content.decode()
    )
    assert list(EligibilityRun.objects.all()) == [queued]
