"""Gift orders through the sandbox vendor: a real Celery worker, a vendor failing 30 % of calls,
signed webhooks back to a live server; and the webhook's signature check."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from notifications.models import Message
from payouts import signing
from payouts.gateway import HttpGiftVendor, OrderRequest, PermanentVendorError, TransientVendorError
from payouts.models import GiftOrder, Payout
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, jst
from tests.payouts.conftest import payable_entitlement
from tests.payouts.sandbox import free_port, sandbox_vendor
from tests.payouts.test_receipts import token_of
from tests.workers import wait_for

SECRET = "test-webhook-secret"
LINKS_FROM = jst(2023, 4, 3, 9)


def links_for(incident, portal_clock, count: int) -> list[str]:
    for n in range(count):
        payable_entitlement(incident, final_yen=1_000 + n, coupon=CouponFactory(app_email=f"t{n}@example.jp"))
    payouts_run()
    portal_clock.set(LINKS_FROM)
    payouts_run()
    return [token_of(m) for m in Message.objects.filter(template="receipt_link").order_by("pk")]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_vendor_failing_30_percent_still_ends_with_one_order_per_choice(
    incident, portal_clock, workers, live_server, settings
) -> None:
    settings.GIFT_VENDOR_WEBHOOK_SECRET = SECRET
    with sandbox_vendor(
        latency_ms=20,
        failure_rate=0.3,
        webhook_url=f"{live_server.url}/api/v1/vendor/webhooks",
        webhook_secret=SECRET,
        # Delivered well after the retries (0.05 s on): a webhook overtaking a retry would record
        # the acceptance first, and the retry would have nothing left to do.
        deliver_after_ms=3000,
    ) as sandbox:
        # Given 30 links and a worker ordering from a vendor that fails 30 % of calls
        tokens = links_for(incident, portal_clock, 30)
        workers.start(
            GIFT_VENDOR_URL=sandbox.url,
            GIFT_VENDOR_RETRY_BASE_SECONDS="0.05",
            GIFT_VENDOR_RETRY_MAX_SECONDS="0.5",
            NOTIFY_BACKEND="file",
        )
        brands = ["amazon", "ponta", "paypay", "edy", "nanaco"]

        # When each traveller chooses — twice at the same instant for a third of them
        def choose(token: str, brand: str) -> None:
            try:
                answer = Client().post(
                    f"/api/v1/receipts/{token}", {"brand": brand}, content_type="application/json"
                )
                assert answer.status_code == 201, answer.content
            finally:
                connection.close()

        threads = []
        for n, token in enumerate(tokens):
            for _ in range(2 if n % 3 == 0 else 1):
                threads.append(threading.Thread(target=choose, args=(token, brands[n % 5])))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        # Then every order is accepted and delivered (webhook), each once at the vendor
        wait_for(
            lambda: GiftOrder.objects.filter(status="delivered").count() == 30,
            timeout=120,
            what="30 delivered orders",
        )
        stats = sandbox.stats()
    assert stats["orders"] == 30
    assert stats["failures"] > 0  # the failures happened (0.7^30 odds against)
    assert GiftOrder.objects.count() == 30
    assert set(Payout.objects.values_list("status", flat=True)) == {"delivered"}
    # failures were retried (calls beyond the 30 first ones), each attempt one call at the vendor
    # (a retry that a delivered webhook overtook has nothing left to do and calls nobody)
    assert stats["calls"] > 30
    assert sum(GiftOrder.objects.values_list("attempts", flat=True)) == stats["calls"]
    for order in GiftOrder.objects.all():
        assert order.external_id == str(order.payout_id)
        assert order.vendor_order_id.startswith("SBX-")


@pytest.mark.django_db
def test_the_http_adapter_names_transient_and_permanent_failures() -> None:
    request = OrderRequest(external_id="1", brand="edy", amount_yen=500, channel="sms", to="+819011112222")
    with sandbox_vendor(failure_rate=0.0) as sandbox:
        vendor = HttpGiftVendor(api_url=sandbox.url, api_key="k", timeout=5)
        first = vendor.place_order(request)
        again = vendor.place_order(request)
        assert first.vendor_order_id == again.vendor_order_id  # idempotent by external id
        assert sandbox.stats()["orders"] == 1
        with pytest.raises(PermanentVendorError):
            vendor.place_order(OrderRequest(external_id="2", brand="gold", amount_yen=1, channel="", to=""))
    with sandbox_vendor(failure_rate=1.0) as sandbox, pytest.raises(TransientVendorError):
        HttpGiftVendor(api_url=sandbox.url, api_key="k", timeout=5).place_order(request)
    unreachable = HttpGiftVendor(api_url=f"http://127.0.0.1:{free_port()}", api_key="k", timeout=2)
    with pytest.raises(TransientVendorError):
        unreachable.place_order(request)


def _post_webhook(client: Client, body: dict, *, secret: str = SECRET, stamp: int | None = None):
    raw = json.dumps(body).encode()
    stamp_text = str(stamp if stamp is not None else int(time.time()))
    return client.post(
        "/api/v1/vendor/webhooks",
        raw,
        content_type="application/json",
        headers={
            signing.TIMESTAMP_HEADER: stamp_text,
            signing.SIGNATURE_HEADER: signing.sign(secret, stamp_text, raw),
        },
    )


@pytest.mark.django_db
def test_webhooks_must_be_signed_and_fresh_and_move_the_payout_once(incident, portal_clock, settings) -> None:
    settings.GIFT_VENDOR_WEBHOOK_SECRET = SECRET
    [token] = links_for(incident, portal_clock, 1)
    Client().post(f"/api/v1/receipts/{token}", {"brand": "edy"}, content_type="application/json")
    payout = Payout.objects.get()
    event = {"event": "delivered", "external_id": str(payout.pk), "id": "V-1"}
    client = Client()
    # wrong secret, stale timestamp: refused, nothing changed
    assert _post_webhook(client, event, secret="other").status_code == 401
    assert _post_webhook(client, event, stamp=int(time.time()) - 3600).status_code == 401
    assert Payout.objects.get().status == "chosen"
    assert GiftOrder.objects.get().status == "queued"
    # signed: delivered (accepted first: the webhook overtook the vendor's answer), then again
    assert _post_webhook(client, event).status_code == 204
    assert _post_webhook(client, event).status_code == 204
    order = GiftOrder.objects.get()
    assert (order.status, order.vendor_order_id) == ("delivered", "V-1")
    assert Payout.objects.get().status == "delivered"
    assert list(payout.status_changes.values_list("to_status", flat=True)) == [
        "created",
        "link_sent",
        "chosen",
        "ordered",
        "delivered",
    ]
    assert _post_webhook(client, {**event, "event": "redeemed"}).status_code == 204
    assert GiftOrder.objects.get().status == "redeemed"
    assert _post_webhook(client, {**event, "external_id": "999999"}).status_code == 404
