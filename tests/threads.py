"""Another connection's transaction, held open while a test acts (threads on PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def held_open(work: Callable[[], object]) -> Iterator[None]:
    """Run ``work`` in a transaction on a connection of its own and keep that transaction open
    (its locks held, its rows uncommitted) until the block ends; then commit it."""
    ready, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                ready.set()
                release.wait(30)
        except BaseException as exc:  # handed to the test
            errors.append(exc)
            ready.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert ready.wait(30), "the other transaction did not start"
    if errors:
        raise errors[0]
    try:
        yield
    finally:
        release.set()
        holder.join(30)
