"""Receipt links through the outbox with a real worker killed (SIGKILL) mid-dispatch."""

from __future__ import annotations

import json
import time

import pytest

from notifications.models import Message
from notifications.tasks import message_sweep_task
from payouts.models import Payout, ReceiptLink
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, jst
from tests.notifications.relay import Relay, wait_for
from tests.payouts.conftest import payable_entitlement


def _calls(relay: Relay) -> dict[str, int]:
    """How many times the provider was called with each message key."""
    calls: dict[str, int] = {}
    log = relay.outbox / "calls.log"
    for line in log.read_text().splitlines() if log.exists() else []:
        calls[line.split()[0]] = calls.get(line.split()[0], 0) + 1
    return calls


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_dispatch_and_restarted_sends_no_link_twice_and_loses_none(
    incident, portal_clock, relay: Relay
) -> None:
    # Given 40 points payouts and a worker that will hang right after handing the first link over
    for n in range(40):
        payable_entitlement(incident, coupon=CouponFactory(app_phone=f"+8190{n:08d}"))
    payouts_run()
    relay.start("PausingFileBackend", NOTIFY_TEST_PAUSE="after")
    # When run_payouts queues the links on 4/3 (rows and tasks committed together)
    portal_clock.set(jst(2023, 4, 3, 9))
    payouts_run()
    assert Message.objects.filter(template="receipt_link").count() == 40
    wait_for(lambda: any(relay.outbox.glob("paused-after-*")), "the first link to reach the provider")
    # and the worker is killed mid-dispatch, then started again
    relay.kill()
    handed_over = _calls(relay)  # the provider calls made before the kill (one batch in flight)
    assert 1 <= sum(handed_over.values()) < 40
    assert Message.objects.exclude(status="sent").count() == 40
    relay.start("PausingFileBackend")

    def all_sent() -> bool:
        if Message.objects.exclude(status="sent").exists():
            message_sweep_task.delay()  # what beat does every minute
            time.sleep(1)
        return not Message.objects.exclude(status="sent").exists()

    wait_for(all_sent, "every link to be sent", timeout=120)

    # Then each payout's one link left once: 40 files, 40 distinct tokens, one per recipient
    files = [json.loads(p.read_text()) for p in relay.files()]
    assert len(files) == 40
    assert len({f["to"] for f in files}) == 40
    bodies = {f["body"] for f in files}
    assert len(bodies) == 40
    assert ReceiptLink.objects.filter(voided_at__isnull=True).count() == 40
    assert set(Payout.objects.values_list("status", flat=True)) == {"link_sent"}
    # only the calls in flight at the kill were repeated, each once, with the same key (landing on
    # the same file); every other link was handed over exactly once
    calls = _calls(relay)
    assert len(calls) == 40
    assert {key for key, count in calls.items() if count > 1} <= set(handed_over)
    assert max(calls.values()) <= 2
    assert all(calls[key] == 1 for key in calls if key not in handed_over)
