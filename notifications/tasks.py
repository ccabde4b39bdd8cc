"""The relay: thin tasks over ``notifications.services``; safe to run twice for one message."""

from __future__ import annotations

from collections import defaultdict

from celery import shared_task

from notifications.services import SendOutcome, message_sweep, messages_send, schedule_sends


def _retry_later(outcomes: dict[int, SendOutcome]) -> None:
    # The rows hold the next try's time too: if a countdown is lost, the sweep finds them.
    waiting: dict[float, list[int]] = defaultdict(list)
    for message_id, outcome in outcomes.items():
        if outcome.retry_in is not None:
            waiting[outcome.retry_in].append(message_id)
    for delay, message_ids in waiting.items():
        message_send_batch_task.apply_async((message_ids,), countdown=delay)


@shared_task(acks_late=True, ignore_result=True)
def message_send_task(message_id: int) -> str:
    """One message (a code, a resend): the batch task's work for a batch of one."""
    outcomes = messages_send(message_ids=[message_id])
    _retry_later(outcomes)
    return outcomes[message_id].status


@shared_task(acks_late=True, ignore_result=True)
def message_send_batch_task(message_ids: list[int]) -> int:
    """A batch (receipt links by the thousand, a sweep): claimed, sent side by side, recorded
    together. Returns how many were sent."""
    outcomes = messages_send(message_ids=message_ids)
    _retry_later(outcomes)
    return sum(outcome.status == "sent" for outcome in outcomes.values())


@shared_task(ignore_result=True)
def message_sweep_task() -> int:
    """Beat: enqueue what the on-commit path left behind (a lost enqueue, a worker that died)."""
    ids = message_sweep()
    schedule_sends(ids)
    return len(ids)
