"""Benchmark: receipt links through the outbox to a sandbox provider with 100 ms latency, beside a
Celery no-op task measured in the same run, on the same worker.

    .venv/bin/python bench/dispatch.py                      # 100,000 links, worker -P threads -c 48
    .venv/bin/python bench/dispatch.py --links 5000 --concurrency 32

Over a database of its own (``<name>_dispatch_bench``, made anew) with N payable 1-1 entitlements
of app users (a mobile number each), it starts the SANDBOX vendor (``payouts.sandbox_vendor``,
``--latency-ms 100``; its ``/sms`` is the SMS provider here) and one Celery worker (threads pool),
then:

1. baseline: N no-op tasks (``bench/dispatch_tasks.py``: one Redis INCR each) enqueued and run;
2. ``run_payouts`` at 2023-04-01 01:00 JST: the N payouts (set-based; timed, not part of the rate);
3. ``run_payouts`` at 2023-04-03 09:00 JST: N receipt links — token, hashed link row, the outbox
   row, the payout's move to link_sent and its history row, one send task per NOTIFY_SEND_BATCH
   messages on commit — which the worker sends through the live SMS adapter to the sandbox
   (100 ms each; up to NOTIFY_SEND_CONCURRENCY calls in flight per batch). The rate is N divided
   by the time from the start of this run_payouts to the last message marked sent.

Prints both rates and their ratio (goal ≥ 0.5), the machine and its load (``uptime``) before and
after: the machine is shared, so the figures move with what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis
from common import ROOT, compile_bytecode, fresh_database, machine

BENCH = Path(__file__).resolve().parent
# The portal's tasks go to Celery's default queue ("celery") of the broker on REDIS_URL: run the
# bench on a Redis database no other worker reads (REDIS_URL=redis://127.0.0.1:6379/N).
QUEUE = "celery"
VENDOR_PORT = 18150


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _env(url: str, now: str) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",  # DEBUG keeps every query in memory: not what a worker runs with
        DJANGO_SECRET_KEY="bench-only-" + "x" * 50,
        FIELD_ENCRYPTION_SALT="bench-only-salt",
        DJANGO_SECURE_SSL_REDIRECT="0",
        PORTAL_CLOCK_PINNABLE="1",
        PORTAL_NOW=now,
        NOTIFY_BACKEND="live",
        SMS_API_URL=f"http://127.0.0.1:{VENDOR_PORT}/sms",
        SMS_API_KEY="bench",
        SMS_SANDBOX="1",
        PUBLIC_SITE_URL="https://example.invalid/",
        PYTHONPATH=f"{BENCH}{os.pathsep}{ROOT}",
    )


def _seed(url: str, links: int) -> None:
    code = f"""
import datetime as dt
from zoneinfo import ZoneInfo
from django.db import connection
from claims.models import Entitlement, Incident
from coupons.models import Coupon
jst = ZoneInfo("Asia/Tokyo")
incident = Incident.objects.get()
for start in range(0, {links}, 10_000):
    numbers = range(start, min(start + 10_000, {links}))
    Coupon.objects.bulk_create(
        Coupon(inquiry_number=f"CB{{n:010d}}", face_value_yen=3000,
               issued_at=dt.datetime(2023, 2, 23, 10, tzinfo=jst), expires_on=dt.date(2023, 2, 24),
               issuing_shop="bench", prefecture_code="12", app_account_id=f"A{{n}}",
               app_phone=f"+8190{{n:08d}}")
        for n in numbers
    )
    Entitlement.objects.bulk_create(
        Entitlement(incident=incident, coupon_id=f"CB{{n:010d}}", category="1-1", route="app",
                    status="extended", amount_yen=1500, cutoff_at=incident.group_1_1_cutoff_at,
                    valid_until=incident.extension_valid_until, found_at=incident.group_1_1_cutoff_at)
        for n in numbers
    )
with connection.cursor() as cursor:
    # extended -> payable is a declared move (the engine's own set-based step after 4/1)
    cursor.execute("UPDATE claims_entitlement SET status = 'payable', final_balance_yen = 1200")
    cursor.execute("ANALYZE")
"""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=_env(url, ""), check=True
    )


def _manage(url: str, now: str, *args: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_env(url, now), check=True)
    return time.monotonic() - started


def _wait(condition, what: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument(
        "--concurrency", type=int, default=48, help="worker threads (each holds a DB connection)"
    )
    parser.add_argument("--latency-ms", type=float, default=100)
    args = parser.parse_args()
    n = args.links

    compile_bytecode()
    conninfo, url = fresh_database("dispatch_bench")
    print(machine(conninfo))
    print(f"load before: {_uptime()}")
    _seed(url, n)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    counter = redis.Redis.from_url(redis_url)
    counter.delete(QUEUE)  # nothing left over from an interrupted run

    vendor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "payouts.sandbox_vendor",
            "--port",
            str(VENDOR_PORT),
            "--latency-ms",
            str(args.latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUE, "-I", "dispatch_tasks"),
            *("-P", "threads", "-c", str(args.concurrency), "-l", "WARNING"),
            *("--without-heartbeat", "--without-gossip", "--without-mingle"),
        ],
        cwd=ROOT,
        env=dict(_env(url, "2023-04-03T09:00:00+09:00"), REDIS_URL=redis_url),
    )
    try:
        time.sleep(5)  # the worker connects
        # 1. The baseline: no-op tasks, enqueued from here and run by the same worker.
        os.environ.update(_env(url, "2023-04-03T09:00:00+09:00"))
        import django

        django.setup()
        from dispatch_tasks import noop_task

        key = f"dispatch-bench-noop-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        # Published as the outbox publishes its send tasks: one producer for the batch.
        with noop_task.app.producer_or_acquire() as producer:
            for _ in range(n):
                noop_task.apply_async((key,), queue=QUEUE, producer=producer)
        ended = _wait(lambda: int(counter.get(key) or 0) >= n, "the no-op tasks", timeout=3600)
        noop_rate = n / (ended - started)
        print(f"no-op task:      {n:>7,} tasks in {ended - started:7.1f}s  {noop_rate:8.1f}/s")

        # 2. The payouts (before the links are due).
        made = _manage(url, "2023-04-01T01:00:00+09:00", "run_payouts")
        print(f"payouts created: {n:>7,} in {made:.1f}s (run_payouts, set-based)")

        # 3. The links: queued by run_payouts, sent by the worker through the sandbox.
        with psycopg.connect(conninfo, autocommit=True) as conn:

            def sent() -> int:
                return conn.execute(
                    "SELECT count(*) FROM notifications_message WHERE status = 'sent'"
                ).fetchone()[0]

            started = time.monotonic()
            queued = _manage(url, "2023-04-03T09:00:00+09:00", "run_payouts")
            ended = _wait(lambda: sent() >= n, "every link to be sent", timeout=7200)
            failed = conn.execute(
                "SELECT count(*) FROM notifications_message WHERE status <> 'sent'"
            ).fetchone()[0]
            links = conn.execute("SELECT count(*) FROM payouts_receiptlink").fetchone()[0]
        rate = n / (ended - started)
        print(
            f"receipt links:   {n:>7,} links in {ended - started:7.1f}s  {rate:8.1f}/s "
            f"(run_payouts queued them in {queued:.1f}s: {n / queued:,.0f}/s; "
            f"{links:,} link rows, {failed} messages not sent)"
        )
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{VENDOR_PORT}/stats", timeout=10) as answer:
            stats = json.loads(answer.read())
        print(f"sandbox: {stats['sms']:,} distinct SMS accepted ({args.latency_ms:.0f} ms each)")
        print(f"ratio links / no-op: {rate / noop_rate:.2f} (goal >= 0.5)")
        print(f"worker: threads pool, concurrency {args.concurrency}")
        print(f"load after: {_uptime()}")
    finally:
        worker.send_signal(signal.SIGTERM)
        vendor.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        vendor.wait(timeout=10)


if __name__ == "__main__":
    main()
