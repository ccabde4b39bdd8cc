"""Benchmark: concurrent application submissions through the API, beside a minimal Django view.

    .venv/bin/python bench/claim_submit.py                         # 32 connections, 3,000 requests each
    .venv/bin/python bench/claim_submit.py --connections 8 --requests 500

Starts gunicorn on loopback (production settings: DEBUG off) over a database of its own
(``<name>_claim_bench``, made anew, with coupons that must apply), then, in the same run and
against the same server, drives ``POST /api/v1/applications`` (validation, coupon check, the
insert, its history row, the code's outbox row and the Celery message on commit, the rate limit in
Redis) and a baseline view that inserts one row in one table (``bench/claim_bench_urls.py``; it
exists only in the bench's own URLconf, never in the portal's). Prints throughput and p50/p99
latency of both, and the ratio. Each request comes from its own loopback address (127.0.x.y), as
the limit of 30 applications an hour per address would otherwise answer 429 after the 30th.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from common import ROOT, compile_bytecode, fresh_database, machine

BENCH = Path(__file__).resolve().parent
PORT = 8765
QUEUE = "claim-bench"
NOW = "2023-03-25T10:00:00+09:00"  # inside the application window


def _seed(url: str, coupons: int) -> None:
    """Coupons on the application route (1-1, extended), as the engine leaves them."""
    code = f"""
import datetime as dt
from zoneinfo import ZoneInfo
from django.db import connection
from claims.models import Entitlement, Incident
from coupons.models import Coupon
jst = ZoneInfo("Asia/Tokyo")
incident = Incident.objects.get()
Coupon.objects.bulk_create(
    Coupon(inquiry_number=f"CB{{n:010d}}", face_value_yen=3000,
           issued_at=dt.datetime(2023, 2, 23, 10, tzinfo=jst),
           expires_on=dt.date(2023, 2, 24), issuing_shop="bench", prefecture_code="12")
    for n in range({coupons})
)
Entitlement.objects.bulk_create(
    Entitlement(incident=incident, coupon_id=f"CB{{n:010d}}", category="1-1", route="application",
                status="extended", amount_yen=1500, cutoff_at=incident.group_1_1_cutoff_at,
                valid_until=incident.extension_valid_until, found_at=incident.group_1_1_cutoff_at)
    for n in range({coupons})
)
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE bench_baseline_row (id bigserial PRIMARY KEY, body jsonb NOT NULL, "
                   "created_at timestamptz NOT NULL DEFAULT now())")
    cursor.execute("ANALYZE")
"""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=url),
        check=True,
    )


def _gunicorn(url: str, workers: int, threads: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="claim_bench_settings",
        PYTHONPATH=f"{BENCH}{os.pathsep}{ROOT}",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-" + "x" * 50,
        FIELD_ENCRYPTION_SALT="bench-only-salt",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        CELERY_TASK_DEFAULT_QUEUE=QUEUE,
        PORTAL_NOW=NOW,
        PORTAL_CLOCK_PINNABLE="1",  # the bench (not production) pins the clock inside the window
        LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", "/api/v1/coupon-checks")  # a 405: cheap, nothing generated
            connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not start")


class Run:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.seconds = 0.0


def _drive(
    run: Run, *, path: str, bodies, connections: int, requests: int, headers_for, address_base: int
) -> Run:
    counter = iter(range(requests))
    take = threading.Lock()

    def client() -> None:
        while True:
            with take:
                i = next(counter, None)
            if i is None:
                return
            n = address_base + i
            source = f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{(n & 255) or 1}"
            body = json.dumps(bodies(i)).encode()
            headers = {"Content-Type": "application/json", **headers_for(i)}
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60, source_address=(source, 0))
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            elapsed = time.perf_counter() - started
            with run.lock:
                run.latencies.append(elapsed)
                run.statuses[response.status] = run.statuses.get(response.status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def _report(run: Run) -> dict[str, float]:
    ordered = sorted(run.latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = len(ordered) / run.seconds
    print(
        f"{run.name:<28} {len(ordered):>6} requests in {run.seconds:6.2f}s  {rate:7.1f}/s  "
        f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  statuses {dict(sorted(run.statuses.items()))}"
    )
    return {"rate": rate, "p50": p50, "p99": p99}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000, help="per kind of request")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    args = parser.parse_args()

    compile_bytecode()
    conninfo, url = fresh_database("claim_bench")
    coupons = max(args.requests, 100)
    _seed(url, coupons)
    print(machine(conninfo))
    print(
        f"gunicorn {args.workers} processes x {args.threads} threads on 127.0.0.1:{PORT}; "
        f"{args.connections} connections; {args.requests:,} requests of each kind"
    )
    server = _gunicorn(url, args.workers, args.threads)
    try:

        def application(i: int) -> dict:
            return {
                "inquiry_number": f"CB{i % coupons:010d}",
                "expires_on": "2023-02-24",
                "name": "千葉 花子",
                "name_kana": "チバ ハナコ",
                "contact": {"phone": f"090-{1000 + i // 10000:04d}-{i % 10000:04d}"},
                "prefecture_code": "12",
                "travel_date": "2023-02-23",
                "payout": {"method": "points"},
            }

        def keyed(_i: int) -> dict[str, str]:
            return {"Idempotency-Key": str(uuid.uuid4())}

        # Warm both paths (connections, imports, the encryption key) before anything is timed.
        warm = min(200, args.requests)
        _drive(
            Run("warm-up"),
            path="/bench/baseline-insert",
            bodies=application,
            connections=args.connections,
            requests=warm,
            headers_for=keyed,
            address_base=1 << 20,
        )
        _drive(
            Run("warm-up"),
            path="/api/v1/applications",
            bodies=application,
            connections=args.connections,
            requests=warm,
            headers_for=keyed,
            address_base=2 << 20,
        )

        results = {}
        for round_ in (1, 2):
            baseline = _drive(
                Run(f"baseline insert (round {round_})"),
                path="/bench/baseline-insert",
                bodies=application,
                connections=args.connections,
                requests=args.requests,
                headers_for=keyed,
                address_base=(3 + round_) << 20,
            )
            results[("baseline", round_)] = _report(baseline)
            applied = _drive(
                Run(f"POST applications (round {round_})"),
                path="/api/v1/applications",
                bodies=lambda i, r=round_: application(i + r * args.requests),
                connections=args.connections,
                requests=args.requests,
                headers_for=keyed,
                address_base=(6 + round_) << 20,
            )
            results[("applications", round_)] = _report(applied)
        for round_ in (1, 2):
            ratio = results[("applications", round_)]["rate"] / results[("baseline", round_)]["rate"]
            p99 = results[("applications", round_)]["p99"]
            print(
                f"round {round_}: applications / baseline throughput = {ratio:.2f}x (goal >= 0.5x), "
                f"applications p99 {p99:.0f} ms (goal < 250 ms)"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        import redis

        from config.settings import REDIS_URL

        redis.Redis.from_url(REDIS_URL).delete(QUEUE)  # the sends nobody consumes in the bench


if __name__ == "__main__":
    main()
