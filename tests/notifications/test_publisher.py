"""The publisher (notifications/publisher.py): every id handed over is published once, from its
own thread, many to a call when they arrive together; a broker error loses nothing the sweep
cannot find, and does not stop the thread."""

from __future__ import annotations

import threading
import time

import pytest

from notifications import services
from notifications.publisher import Publisher


class Recorder:
    def __init__(self, *, slow: float = 0.0, fail_first: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.threads: set[str] = set()
        self.slow = slow
        self.fail_first = fail_first

    def __call__(self, ids: list[int]) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.slow)
        if self.fail_first:
            self.fail_first = False
            raise ConnectionError("broker down")
        self.calls.append(ids)

    def published(self) -> list[int]:
        return sorted(i for call in self.calls for i in call)


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_every_id_is_published_once_from_the_publishers_thread() -> None:
    recorder = Recorder(slow=0.02)  # a slow broker: ids gather while it publishes
    publisher = Publisher(recorder, interval=0.01)
    senders = [
        threading.Thread(target=lambda n=n: [publisher.send_soon(n * 100 + i) for i in range(50)])
        for n in range(8)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    wait_for(lambda: len(recorder.published()) == 400)
    assert recorder.published() == sorted(n * 100 + i for n in range(8) for i in range(50))
    assert recorder.threads == {"outbox-publisher"}
    assert len(recorder.calls) < 400  # batched: many ids to a call


def test_a_quiet_portal_publishes_one_id_at_once() -> None:
    recorder = Recorder()
    publisher = Publisher(recorder)
    publisher.send_soon(7)
    wait_for(lambda: recorder.calls == [[7]], seconds=1.0)


def test_a_busy_portal_publishes_at_most_once_an_interval_and_the_ids_gather() -> None:
    recorder = Recorder()
    publisher = Publisher(recorder, interval=0.3)
    publisher.send_soon(1)
    wait_for(lambda: recorder.calls == [[1]], seconds=1.0)
    started = time.monotonic()
    for message_id in range(2, 22):
        publisher.send_soon(message_id)
    wait_for(lambda: len(recorder.calls) == 2)
    assert recorder.calls[1] == list(range(2, 22))  # one publication for the twenty
    assert time.monotonic() - started > 0.2  # not before the interval had passed


def test_a_broker_error_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(fail_first=True)
    publisher = Publisher(recorder, interval=0.01)
    publisher.send_soon(1)
    wait_for(lambda: "could not publish" in caplog.text)
    publisher.send_soon(2)
    wait_for(lambda: recorder.published() == [2])  # 1 is left to the sweep


def test_flush_publishes_what_is_waiting_in_the_calling_thread() -> None:
    recorder = Recorder()
    publisher = Publisher(recorder)
    publisher._pending.put(5)  # handed over, the thread not started yet
    publisher.flush()
    assert recorder.calls == [[5]]


def test_outside_the_tests_eager_mode_a_message_goes_through_the_publisher(monkeypatch) -> None:
    from notifications.tasks import message_send_task

    handed: list[int] = []
    monkeypatch.setattr(services._publisher, "send_soon", handed.append)
    conf = message_send_task.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, False
    try:
        services._schedule_send(42)
    finally:
        conf.task_always_eager = eager
    assert handed == [42]
