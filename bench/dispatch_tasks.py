"""The bench's baseline task, loaded only into the bench's worker (``celery worker -I``)."""

from __future__ import annotations

import os

import redis
from celery import shared_task

_counter = redis.Redis.from_url(os.environ["REDIS_URL"])


@shared_task(ignore_result=True)
def noop_task(key: str) -> None:
    """Does nothing but count itself (one Redis INCR), so the bench can see when all have run."""
    _counter.incr(key)
