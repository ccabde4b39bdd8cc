"""Deciding once under concurrency, with threads on real PostgreSQL connections."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from claims.models import Entitlement, EntitlementStatusChange, Incident
from claims.services.eligibility import eligibility_run
from claims.services.entitlements import TransitionError, entitlement_reject
from tests.factories import CouponFactory, MovementFactory, StoreFactory, jst

pytestmark = pytest.mark.django_db(transaction=True)

AFTER_FINAL = jst(2023, 4, 10, 10)


def _ledger() -> None:
    store = StoreFactory()
    for n in range(20):
        coupon = CouponFactory(inquiry_number=f"CC{n:08d}", expires_on=dt.date(2023, 2, 24 + n % 2))
        MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
        for second in (0, 30):
            MovementFactory(
                coupon=coupon,
                kind="payment",
                amount_yen=-500,
                store=store,
                request_id=f"R{n}-{second}",
                occurred_at=jst(2023, 2, 24, 18, 0, second),
            )


def _in_threads(*targets) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def run(target) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_engine_runs_at_once_decide_each_coupon_once(incident: Incident) -> None:
    _ledger()

    errors = _in_threads(
        lambda: eligibility_run(incident=incident, as_of=AFTER_FINAL),
        lambda: eligibility_run(incident=incident, as_of=AFTER_FINAL),
    )

    assert errors == []
    assert Entitlement.objects.filter(category="1-1").count() == 10
    assert Entitlement.objects.filter(category="1-2").count() == 10
    assert Entitlement.objects.filter(category="2-2").count() == 20
    # one history per decision: found (+ extended, + final) for 1-1, found for the others
    assert EntitlementStatusChange.objects.filter(to_status="found").count() == 40
    assert EntitlementStatusChange.objects.filter(to_status="extended").count() == 10


def test_two_agents_rejecting_the_same_candidate_at_once_reject_it_once(incident: Incident) -> None:
    _ledger()
    eligibility_run(incident=incident, as_of=AFTER_FINAL)
    candidate = Entitlement.objects.filter(category="2-2").first()

    errors = _in_threads(
        lambda: entitlement_reject(entitlement_id=candidate.pk, actor=None, reason="一人目"),
        lambda: entitlement_reject(entitlement_id=candidate.pk, actor=None, reason="二人目"),
    )

    assert len(errors) == 1
    assert isinstance(errors[0], TransitionError)
    candidate.refresh_from_db()
    assert candidate.status == Entitlement.Status.REJECTED
    assert candidate.status_changes.filter(to_status="rejected").count() == 1
