"""SANDBOX gift vendor — a stand-in for the real one, for `make run`, the tests and the bench.

    python -m payouts.sandbox_vendor --port 18110 --latency-ms 100 --failure-rate 0.3 \\
        --webhook-url http://127.0.0.1:8000/api/v1/vendor/webhooks --webhook-secret S

It speaks the contract of ``payouts.gateway``: ``POST /orders`` (Idempotency-Key = the external
id) answers ``{"id", "status": "accepted"}`` after ``--latency-ms``; the same external id again is
the same order, never a second. ``--failure-rate`` of the calls fail with a transient error, half
of them *after* keeping the order (the answer is lost, as on a real network), so the portal's
retries are exercised both ways. Each accepted order is "delivered" a moment later by a signed
webhook to ``--webhook-url`` (retried until the portal answers 2xx). ``GET /orders/<id>`` and
``GET /stats`` let tests and the bench count. Nothing is delivered to anyone: it is a sandbox,
and every answer says so (``"sandbox": true``, header ``X-Sandbox: true``).

It also answers ``POST /sms`` as a sandbox SMS provider (the contract of
``notifications.backends.sms``: Idempotency-Key kept, ``{"id"}`` answered after the same latency),
so ``bench/dispatch.py`` can send receipt links end to end through the outbox's live backend.

Standard library only, no Django: it runs as its own process like any other party.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from payouts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

BANNER = "SANDBOX gift vendor (regionpay) - not a real vendor; nothing is delivered"


class Vendor:
    def __init__(
        self,
        *,
        latency: float,
        failure_rate: float,
        webhook_url: str,
        webhook_secret: str,
        deliver_after: float,
    ) -> None:
        self.latency = latency
        self.failure_rate = failure_rate
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.deliver_after = deliver_after
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.stats = {"calls": 0, "failures": 0, "orders": 0, "repeats": 0, "webhooks_sent": 0, "sms": 0}
        self.sms: dict[str, str] = {}
        self.random = random.Random()  # noqa: S311 - failure injection, not security

    def place(self, external_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(self.latency)
        with self.lock:
            self.stats["calls"] += 1
            roll = self.random.random()
            if roll < self.failure_rate / 2:
                self.stats["failures"] += 1
                return 503, {"error": "sandbox: injected failure before the order was kept"}
            order = self.orders.get(external_id)
            if order is None:
                self.stats["orders"] += 1
                order = {
                    "id": f"SBX-{len(self.orders) + 1:08d}",
                    "external_id": external_id,
                    "brand": body.get("brand"),
                    "amount_yen": body.get("amount_yen"),
                    "status": "accepted",
                    "sandbox": True,
                }
                self.orders[external_id] = order
                if self.webhook_url:
                    threading.Thread(target=self._deliver, args=(dict(order),), daemon=True).start()
            else:
                self.stats["repeats"] += 1
            if roll < self.failure_rate:
                self.stats["failures"] += 1
                return 504, {"error": "sandbox: injected failure after the order was kept"}
            return 200, dict(order)

    def sms_send(self, key: str) -> dict[str, Any]:
        time.sleep(self.latency)
        with self.lock:
            if key not in self.sms:
                self.stats["sms"] += 1
                self.sms[key] = f"SBX-SMS-{len(self.sms) + 1:08d}"
            return {"id": self.sms[key]}

    def _deliver(self, order: dict[str, Any]) -> None:
        time.sleep(self.deliver_after)
        body = json.dumps(
            {"event": "delivered", "external_id": order["external_id"], "id": order["id"]}
        ).encode()
        for attempt in range(30):
            stamp = str(int(time.time()))
            request = urllib.request.Request(  # noqa: S310 - the operator's URL
                self.webhook_url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    TIMESTAMP_HEADER: stamp,
                    SIGNATURE_HEADER: sign(self.webhook_secret, stamp, body),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                    with self.lock:
                        self.stats["webhooks_sent"] += 1
                    with self.lock:
                        self.orders[order["external_id"]]["status"] = "delivered"
                    return
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                time.sleep(min(0.2 * 2**attempt, 10))


def make_handler(vendor: Vendor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SandboxGiftVendor/1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps({**payload, "sandbox": True}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Sandbox", "true")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/stats":
                with vendor.lock:
                    return self._answer(200, dict(vendor.stats))
            if self.path.startswith("/orders/"):
                with vendor.lock:
                    order = vendor.orders.get(self.path.removeprefix("/orders/"))
                return self._answer(200, order) if order else self._answer(404, {"error": "no such order"})
            return self._answer(200, {"service": BANNER})

        def do_POST(self) -> None:
            if self.path == "/sms":
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or ""
                if not key:
                    return self._answer(422, {"error": "Idempotency-Key is required"})
                return self._answer(200, vendor.sms_send(key))
            if self.path != "/orders":
                return self._answer(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._answer(400, {"error": "body is not JSON"})
            external_id = self.headers.get("Idempotency-Key") or str(body.get("external_id") or "")
            if not external_id or body.get("brand") not in {"amazon", "ponta", "paypay", "edy", "nanaco"}:
                return self._answer(422, {"error": "external id and a known brand are required"})
            status, payload = vendor.place(external_id, body)
            return self._answer(status, payload)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections beyond it when many senders call at
    # once, and each dropped connection waits a second for the retransmission of its SYN: the
    # sandbox would then measure the kernel's backoff, not its own latency.
    request_queue_size = 1024


def serve(
    *,
    port: int,
    latency_ms: float = 100,
    failure_rate: float = 0.0,
    webhook_url: str = "",
    webhook_secret: str = "",
    deliver_after_ms: float = 200,
    host: str = "127.0.0.1",
) -> ThreadingHTTPServer:
    vendor = Vendor(
        latency=latency_ms / 1000,
        failure_rate=failure_rate,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        deliver_after=deliver_after_ms / 1000,
    )
    server = _Server((host, port), make_handler(vendor))
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=BANNER)
    parser.add_argument("--port", type=int, default=18110)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--webhook-url", default="")
    parser.add_argument("--webhook-secret", default="")
    parser.add_argument("--deliver-after-ms", type=float, default=200)
    args = parser.parse_args(argv)
    server = serve(
        port=args.port,
        host=args.host,
        latency_ms=args.latency_ms,
        failure_rate=args.failure_rate,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        deliver_after_ms=args.deliver_after_ms,
    )
    print(f"{BANNER} on http://{args.host}:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
