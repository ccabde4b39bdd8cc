"""The relay in a real Celery worker process over Redis, killed with SIGKILL at the worst moments.

What these prove (docs/architecture.md, "Notifications", states the guarantee):
- killed after the commit, before the provider call: sent exactly once after a restart;
- killed after the provider call, before the row says so: the provider is called a second time
  with the same key and the file backend's deterministic name, so exactly one message exists;
- an on-commit enqueue that never reached the broker: the sweep (beat's task) sends it once;
- a named transient error: retried with a doubling backoff in the worker, then sent.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from django.db import transaction

from notifications.models import Message
from notifications.services import message_enqueue
from notifications.tasks import message_sweep_task
from tests.notifications.relay import Relay, wait_for


def status_of(message: Message) -> str:
    message.refresh_from_db()
    return message.status


def commit_code(reference: str = "7") -> Message:
    """The caller's transaction: its decision and its message commit together."""
    with transaction.atomic():
        return message_enqueue(
            channel="sms",
            to="090-1234-5678",
            template="verification_code",
            context={"code": "482913", "minutes": 30},
            reference=reference,
        )


def sweep_until_sent(message: Message) -> None:
    """Do what beat does every minute, until the left-behind row is sent."""

    def swept_and_sent() -> bool:
        if status_of(message) == Message.Status.SENT:
            return True
        message_sweep_task.delay()
        time.sleep(1)
        return status_of(message) == Message.Status.SENT

    wait_for(swept_and_sent, "the sweep to send the message")


def assert_sent_once(relay: Relay, message: Message, *, attempts: int) -> None:
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENT, attempts)
    [path] = relay.files()
    assert message.provider_id == path.name
    data = json.loads(path.read_text())
    assert data == {
        "channel": "sms",
        "to": "+819012345678",
        "subject": message.subject,
        "body": message.body,
        "reference": message.reference,
    }
    assert "482913" in data["body"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_killed_after_commit_before_the_provider_call_sends_exactly_once(relay: Relay) -> None:
    # Given a worker that takes the message and is killed before it reaches the provider
    relay.start("PausingFileBackend", NOTIFY_TEST_PAUSE="before")
    message = commit_code()
    wait_for(
        lambda: (relay.outbox / f"paused-before-{message.pk}").exists(), "the worker to claim the message"
    )
    relay.kill()
    assert status_of(message) == Message.Status.SENDING
    assert relay.files() == []
    assert relay.calls(message) == []

    # When a worker is started again and beat's sweep runs after the lease ran out
    relay.start("PausingFileBackend")
    sweep_until_sent(message)

    # Then the message left exactly once
    assert_sent_once(relay, message, attempts=2)
    assert len(relay.calls(message)) == 1
    notes = list(message.status_changes.values_list("from_status", "to_status"))
    assert notes == [("", "pending"), ("pending", "sending"), ("sending", "sending"), ("sending", "sent")]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_killed_after_the_provider_call_before_the_row_update_leaves_one_message(relay: Relay) -> None:
    # Given a worker killed after the provider accepted the message, before the row records it
    relay.start("PausingFileBackend", NOTIFY_TEST_PAUSE="after")
    message = commit_code()
    wait_for(lambda: (relay.outbox / f"paused-after-{message.pk}").exists(), "the provider call")
    relay.kill()
    assert status_of(message) == Message.Status.SENDING
    assert len(relay.files()) == 1
    first = relay.files()[0].read_bytes()

    # When a worker is started again and the sweep finds the expired lease
    relay.start("PausingFileBackend")
    sweep_until_sent(message)

    # Then the provider was called twice with the same key, and one message exists: the second
    # call landed on the first (the file backend's name is the message's; an SMS provider keeps
    # the Idempotency-Key). This is the guarantee: at-least-once calls, exactly-once delivery
    # where the way out is idempotent.
    assert len(relay.calls(message)) == 2
    assert_sent_once(relay, message, attempts=2)
    assert relay.files()[0].read_bytes() == first


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_killed_while_the_message_waits_on_the_broker_sends_once_after_restart(relay: Relay) -> None:
    # Given a worker that dies, and a message committed while no worker runs
    relay.start("PausingFileBackend")
    relay.kill()
    message = commit_code()
    time.sleep(1)
    assert status_of(message) == Message.Status.PENDING

    # When a worker is started again, it takes the task from the broker
    relay.start("PausingFileBackend")
    wait_for(lambda: status_of(message) == Message.Status.SENT, "the restarted worker to send it")

    # Then once, at the first attempt; and a sweep afterwards sends nothing more
    message_sweep_task.delay()
    time.sleep(2)
    assert_sent_once(relay, message, attempts=1)
    assert len(relay.calls(message)) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_enqueue_lost_at_commit_is_sent_once_by_the_sweep(relay: Relay, monkeypatch) -> None:
    # Given a message whose on-commit enqueue never reached the broker
    monkeypatch.setattr("notifications.services._schedule_send", lambda message_id: None)
    relay.start("PausingFileBackend")
    message = commit_code()
    time.sleep(2)
    assert status_of(message) == Message.Status.PENDING
    assert relay.files() == []

    # When beat's sweep runs
    sweep_until_sent(message)

    # Then it is sent, once
    assert_sent_once(relay, message, attempts=1)
    assert len(relay.calls(message)) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_is_retried_with_backoff_then_succeeds(relay: Relay) -> None:
    # Given a provider that resets the connection twice, and a 1 s backoff base
    relay.start("FlakyFileBackend", NOTIFY_TEST_FAILURES="2", NOTIFY_RETRY_BASE_SECONDS="1")

    # When a message is committed
    message = commit_code()
    wait_for(lambda: status_of(message) == Message.Status.SENT, "the retries to succeed", timeout=60)

    # Then it was tried three times, the waits doubling (1 s, then 2 s), and sent once
    calls = relay.calls(message)
    assert len(calls) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= 1.0
    assert gaps[1] >= 2.0
    assert_sent_once(relay, message, attempts=3)
    assert message.last_error == ""
    notes = list(message.status_changes.values_list("to_status", flat=True))
    assert notes == ["pending", "sending", "pending", "sending", "pending", "sending", "sent"]
