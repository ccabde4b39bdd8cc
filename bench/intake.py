"""Benchmark: the call desk's intake page on the demo data, and the store search over 100,000 stores.

    .venv/bin/python bench/intake.py                 # demo data (3,000 coupons) + 100,000 stores
    .venv/bin/python bench/intake.py --stores 20000  # smaller, while developing

Runs against the server of DATABASE_URL (or the one `make run` left in .data/services.env), in a
database of its own (``<name>_intake_bench``, made anew): the demo export (the same generator and
seed as `make run`) is imported and the engine run, as `make run` does. One more coupon gets a
1,500-movement ledger (the size a browser pass found on a real page). The page is requested
through Django's test client in this process (URL routing, the admin's login and permission
checks, every query and the template), after three warm-up requests; the figures are the median
and the slowest of 20. The store search is ``callcenter.lookups.search_stores`` (the trigram GIN
index on the folded name), median and slowest of 20 per query. Goals: page < 300 ms, search < 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from common import compile_bytecode, fresh_database, machine

DEMO_COUPONS = 3000
DEMO_SEED = 2023
LONG_LEDGER = 1500
PLACES = [
    "館山",
    "鴨川",
    "千葉",
    "銚子",
    "成田",
    "木更津",
    "勝浦",
    "南房総",
    "富津",
    "いすみ",
    "君津",
    "佐倉",
]
KINDS = [
    "海鮮市場",
    "食堂",
    "旅館",
    "ホテル",
    "土産店",
    "カフェ",
    "ラーメン",
    "寿司処",
    "道の駅",
    "ベーカリー",
]
SEARCHES = ["海鮮", "らーめん", "ﾎﾃﾙ", "館山海鮮市場 12号", "鴨川", "存在しない店名"]


def _timed(call, runs: int = 20) -> tuple[float, float]:
    for _ in range(3):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def _stores(conninfo: str, count: int) -> None:
    places = "ARRAY[" + ",".join(f"'{p}'" for p in PLACES) + "]"
    kinds = "ARRAY[" + ",".join(f"'{k}'" for k in KINDS) + "]"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"""INSERT INTO coupons_store (store_id, store_name, prefecture_code, address)
            SELECT 'BENCH' || n,
                   ({places})[1 + n %% {len(PLACES)}] || ({kinds})[1 + (n / {len(PLACES)}) %% {len(KINDS)}]
                     || ' ' || (n / {len(PLACES) * len(KINDS)}) || '号店',
                   '12', '千葉県'
            FROM generate_series(1, %s) AS n""",
            [count],
        )
        conn.execute("VACUUM ANALYZE coupons_store")


def _long_ledger(conninfo: str) -> str:
    number = "BENCHLONG0001"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        store = conn.execute("SELECT store_id FROM coupons_store ORDER BY store_id LIMIT 1").fetchone()[0]
        conn.execute(
            """INSERT INTO coupons_coupon (inquiry_number, face_value_yen, issued_at, expires_on,
                 issuing_shop, prefecture_code, app_account_id, app_phone, app_email)
               VALUES (%s, 1000000, '2023-02-20T10:00+09:00', '2023-02-24', 'ベンチ旅行', '12',
                       '', '', '')""",
            [number],
        )
        conn.execute(
            """INSERT INTO coupons_couponmovement (movement_id, inquiry_number, kind, amount_yen, occurred_at,
                 store_id, request_id, app_account_id)
               SELECT 'BL' || n, %s, CASE WHEN n = 0 THEN 'issue' ELSE 'payment' END,
                      CASE WHEN n = 0 THEN 1000000 ELSE -100 END,
                      timestamptz '2023-02-20T10:00+09:00' + n * interval '7 minutes',
                      CASE WHEN n = 0 THEN NULL ELSE %s END, 'BLR' || n, ''
               FROM generate_series(0, %s) AS n""",
            [number, store, LONG_LEDGER - 1],
        )
        conn.execute("ANALYZE coupons_couponmovement")
    return number


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=100_000)
    args = parser.parse_args()
    compile_bytecode()
    import django

    django.setup()
    from pathlib import Path
    from tempfile import mkdtemp

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    conninfo, _url = fresh_database("intake_bench")
    name = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    connections["default"].close()
    connections["default"].settings_dict["NAME"] = name
    settings.ALLOWED_HOSTS = ["*"]

    from coupons.services.demo_export import generate_regionpay_export
    from coupons.services.importing import regionpay_import

    stats = generate_regionpay_export(coupons=DEMO_COUPONS, out=Path(mkdtemp()), seed=DEMO_SEED)
    outcome = regionpay_import(paths=stats.files)
    if not outcome.ok:
        raise SystemExit("\n".join(str(error) for error in outcome.errors))
    _stores(conninfo, args.stores)
    long_number = _long_ledger(conninfo)
    call_command("run_eligibility", "--full", verbosity=0)

    from django.contrib.auth.models import User
    from django.test import Client

    from callcenter.lookups import search_stores
    from tests.staff import login_verified  # signed in with a verified second factor, as staff are

    admin = User.objects.create_superuser("bench", password="bench-only")  # noqa: S106
    client = login_verified(Client(), admin)
    with psycopg.connect(conninfo) as conn:
        busiest, busiest_count = conn.execute(
            """SELECT inquiry_number, count(*) FROM coupons_couponmovement
               WHERE inquiry_number IN (SELECT inquiry_number FROM claims_entitlement)
                 AND inquiry_number <> %s
               GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""",
            [long_number],
        ).fetchone()
        stores = conn.execute("SELECT count(*) FROM coupons_store").fetchone()[0]
        movements = conn.execute("SELECT count(*) FROM coupons_couponmovement").fetchone()[0]

    def page(number: str):
        def get() -> None:
            response = client.get("/admin/callcenter/callcase/intake/", {"q": number})
            if response.status_code != 200 or number not in response.content.decode():
                raise SystemExit(f"intake page for {number}: status {response.status_code}")

        return get

    print()
    print(machine(conninfo))
    print(f"data: demo export ({DEMO_COUPONS:,} coupons, {movements:,} movements), {stores:,} stores")
    print(f"{'intake page (GET, logged in)':58}{'median ms':>10}{'max ms':>9}")
    for label, number in (
        (f"busiest demo coupon with entitlements ({busiest_count} movements)", busiest),
        (f"coupon with a {LONG_LEDGER:,}-movement ledger", long_number),
    ):
        median, worst = _timed(page(number))
        print(f"  {label:56}{median:>10.1f}{worst:>9.1f}")
    print(f"{'store search over ' + format(stores, ',') + ' stores':58}{'median ms':>10}{'max ms':>9}  found")
    for query in SEARCHES:
        found = len(search_stores(query))
        median, worst = _timed(lambda q=query: search_stores(q))
        print(f"  {query:56}{median:>10.1f}{worst:>9.1f}  {found}")
    print("goals: intake page < 300 ms, store search < 100 ms")


if __name__ == "__main__":
    main()
