"""Double click, a retry racing the first request, two tabs verifying at once: one application,
one code, one submission per coupon — threads on PostgreSQL, each on its own connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from claims.models import Application
from claims.services import applications as svc
from notifications.models import Message
from tests.claims.applications.conftest import application_body, sent_code

pytestmark = pytest.mark.django_db(transaction=True)


def together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same instant; results or exceptions."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            start.wait(10)
            results[i] = work(i)
        except Exception as exc:  # handed to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_eight_simultaneous_requests_with_one_key_make_one_application(portal_clock, paper_coupon) -> None:
    body = application_body(paper_coupon)
    results = together(8, lambda _i: svc.application_create(data=body, idempotency_key="same-key-8x"))
    assert all(isinstance(r, svc.ApplicationCreated) for r in results), results
    assert len({r.application.pk for r in results}) == 1
    assert len({str(r.response) for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert Application.objects.count() == 1
    assert Message.objects.count() == 1


def test_two_applications_of_one_coupon_verified_at_once_submit_one(portal_clock, paper_coupon) -> None:
    body = application_body(paper_coupon)
    first = svc.application_create(data=body, idempotency_key="tab-one-key").application
    second = svc.application_create(data=body, idempotency_key="tab-two-key").application
    codes = {first.pk: sent_code(first), second.pk: sent_code(second)}
    pair = [first, second]
    results = together(
        2, lambda i: svc.application_verify(application_id=pair[i].public_id, code=codes[pair[i].pk])
    )
    submitted = [r for r in results if isinstance(r, Application)]
    refused = [r for r in results if isinstance(r, svc.NotApplicable)]
    assert (len(submitted), len(refused)) == (1, 1), results
    assert refused[0].outcome == "already_applied"
    assert Application.objects.filter(status="submitted").count() == 1
    assert Message.objects.filter(template="application_confirmation").count() == 1


def test_five_simultaneous_wrong_codes_void_once(portal_clock, paper_coupon) -> None:
    application = svc.application_create(
        data=application_body(paper_coupon), idempotency_key="wrong-5x-key"
    ).application
    wrong = "000000" if sent_code(application) != "000000" else "111111"
    results = together(6, lambda _i: svc.application_verify(application_id=application.public_id, code=wrong))
    assert sorted(type(r).__name__ for r in results) == ["ApplicationVoid"] * 2 + ["WrongCode"] * 4
    assert sorted(r.attempts_left for r in results if isinstance(r, svc.WrongCode)) == [1, 2, 3, 4]
    application.refresh_from_db()
    assert (application.status, application.code_attempts) == ("void", 5)
    assert application.status_changes.filter(to_status="void").count() == 1
