"""Benchmark: run_eligibility against a bare GROUP BY scan of the same movements.

    .venv/bin/python bench/eligibility.py                     # 1,000,000 coupons, ~10M movements
    .venv/bin/python bench/eligibility.py --coupons 100000    # smaller

Builds its own database (``<name>_eligibility_bench``) from the generated export (made once under
bench/out/, shared with bench/import_ledger.py), then times, in the same database and session
settings: the engine's first run (it creates every entitlement), a second run (nothing new: the
steady state of the scheduled runs), and ``SELECT inquiry_number, SUM(amount_yen) ... GROUP BY``
over the same movements (aggregated on the server; only their total travels back).
"""

from __future__ import annotations

import argparse
import time

import psycopg
from common import export, fresh_database, machine, manage

# The sums are totalled so that they must be computed (a bare count of groups lets PostgreSQL
# answer from the index alone) while only one number travels back.
BASELINE = """
SELECT sum(balance) FROM (
  SELECT inquiry_number, SUM(amount_yen) AS balance FROM coupons_couponmovement GROUP BY inquiry_number
) balances
"""


def _timed_run(url: str) -> float:
    return manage("run_eligibility", url=url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--coupons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    out = export(args.coupons, args.seed)
    conninfo, url = fresh_database("eligibility_bench")
    load_s = manage("import_regionpay", "--no-progress", *map(str, sorted(out.glob("*.csv"))), url=url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        movements = conn.execute("SELECT count(*) FROM coupons_couponmovement").fetchone()[0]
        coupons = conn.execute("SELECT count(*) FROM coupons_coupon").fetchone()[0]
        started = time.monotonic()
        conn.execute(BASELINE).fetchone()
        scan_s = time.monotonic() - started
    first_s = _timed_run(url)
    second_s = _timed_run(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        started = time.monotonic()
        conn.execute(BASELINE).fetchone()
        scan_s = min(scan_s, time.monotonic() - started)  # the faster of two: the stricter baseline
        found = conn.execute(
            "SELECT category, count(*), sum(amount_yen) FROM claims_entitlement GROUP BY 1 ORDER BY 1"
        ).fetchall()

    print()
    print(machine(conninfo))
    print(f"data: {coupons:,} coupons, {movements:,} movements (loaded in {load_s:.0f}s)")
    print(
        "found: " + ", ".join(f"{category} {count:,} ({amount:,} yen)" for category, count, amount in found)
    )
    print(f"{'':44}{'seconds':>10}")
    print(f"{'bare GROUP BY scan of the movements':44}{scan_s:>10.1f}")
    print(f"{'run_eligibility, first run (creates all)':44}{first_s:>10.1f}")
    print(f"{'run_eligibility, second run (nothing new)':44}{second_s:>10.1f}")
    print(
        f"ratio first run / scan: {first_s / scan_s:.2f}x, second run / scan: {second_s / scan_s:.2f}x "
        "(target <= 1.50x); each run includes starting manage.py (~1 s)"
    )


if __name__ == "__main__":
    main()
