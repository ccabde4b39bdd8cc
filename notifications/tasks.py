"""The relay: thin tasks over ``notifications.services``; safe to run twice for one message."""

from __future__ import annotations

from celery import shared_task

from notifications.services import message_send, message_sweep


@shared_task(acks_late=True, ignore_result=True)
def message_send_task(message_id: int) -> str:
    outcome = message_send(message_id=message_id)
    if outcome.retry_in is not None:
        # The row holds the next try's time too: if this countdown is lost, the sweep finds it.
        message_send_task.apply_async((message_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def message_sweep_task() -> int:
    """Beat: enqueue what the on-commit path left behind (a lost enqueue, a worker that died)."""
    ids = message_sweep()
    for message_id in ids:
        message_send_task.delay(message_id)
    return len(ids)
