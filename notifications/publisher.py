"""The send tasks of messages whose transaction has committed, published by one thread per process.

Publishing a Celery task costs ~0.8 ms of CPU (Celery builds the message, kombu a Redis client and
a look-up of the exchange's queues) — a fifth of an application's submission, whose code must go
out. The committing thread only hands the message's id to this process's publisher; the
publisher's thread publishes what has gathered as batch tasks
(``notifications.services.schedule_sends``). It publishes at most once per ``interval``: when the
portal is quiet a message goes at once, alone; when it is busy, the ids of up to ``interval``
(50 ms) go together, so one publication serves many messages. A code reaches the worker at
most 50 ms later than it would have, against the seconds an SMS takes anyway.

Nothing new can be lost: a process that dies between the commit and the publication leaves its
rows ``pending``, and the sweep (beat, every minute) sends them, as it always did for a send task
lost with the broker. At a normal exit the last ids are published before the process ends.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Publisher:
    """Hands ids to ``publish`` from a thread of its own, as many at a time as have gathered."""

    def __init__(self, publish: Callable[[list[int]], None], *, interval: float = 0.05) -> None:
        self._publish = publish
        self._interval = interval
        self._last = 0.0  # when the thread last published (time.monotonic)
        self._pending: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        atexit.register(self.flush)

    def send_soon(self, message_id: int) -> None:
        if self._pid != os.getpid():  # no thread yet, or a forked copy of the parent's (gunicorn)
            with self._start:
                if self._pid != os.getpid():
                    self._pending = queue.SimpleQueue()  # what a parent had not published is its own
                    self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
                    self._thread.start()
                    self._pid = os.getpid()
        self._pending.put(message_id)

    def flush(self) -> None:
        """Publish what is waiting, in the calling thread (at exit; tests)."""
        ids = self._take()
        if ids:
            self._publish_safely(ids)

    def _run(self) -> None:
        while True:
            ids = [self._pending.get()]  # sleeps until there is one
            time.sleep(max(0.0, self._last + self._interval - time.monotonic()))  # busy: let more come
            ids += self._take()
            self._last = time.monotonic()
            self._publish_safely(ids)

    def _take(self) -> list[int]:
        ids = []
        while True:
            try:
                ids.append(self._pending.get_nowait())
            except queue.Empty:
                return ids

    def _publish_safely(self, ids: list[int]) -> None:
        try:
            self._publish(ids)
        except Exception:
            # The broker is down: the rows stay pending and the sweep sends them.
            logger.exception("could not publish the send tasks of %d messages; the sweep will", len(ids))
