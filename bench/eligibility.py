"""Benchmark: run_eligibility against a bare GROUP BY scan of the same movements.

    .venv/bin/python bench/eligibility.py                     # 1,000,000 coupons, ~10M movements
    .venv/bin/python bench/eligibility.py --coupons 100000    # smaller

Builds its own database (``<name>_eligibility_bench``) from the generated export (made once under
bench/out/, shared with bench/import_ledger.py), then times, in the same database and session
settings, ``SELECT inquiry_number, SUM(amount_yen) ... GROUP BY`` over the movements (aggregated on
the server; only their total travels back) and the engine as operations run it:

1. the first run after the bulk load (full: it creates every entitlement);
2. a scheduled run with nothing new (incremental);
3. a scheduled run after a day's file from the platform (``--later`` movements on 1 coupon in 200,
   imported first): the steady state, every few minutes through the campaign;
4. a full run with nothing new (``--full``: what every run cost before runs were incremental).

``--reuse`` keeps the database an earlier run of this bench loaded (migrating it to this code and
clearing every decision and run), so that another version of the engine is timed on the same
ledger without loading it again; its day's file is a new one: the first day from 2023-03-11 whose
file is not yet in the ledger (an earlier ``--reuse`` imported its own), so that the run after it
really has coupons to re-decide.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import time
from pathlib import Path

import psycopg
from common import compile_bytecode, export, fresh_database, machine, manage

# The sums are totalled so that they must be computed (a bare count of groups lets PostgreSQL
# answer from the index alone) while only one number travels back.
BASELINE = """
SELECT sum(balance) FROM (
  SELECT inquiry_number, SUM(amount_yen) AS balance FROM coupons_couponmovement GROUP BY inquiry_number
) balances
"""


def _timed_run(url: str, *args: str) -> float:
    return manage("run_eligibility", *args, url=url)


def _later_file(out: Path, coupons: int, movements: int, *, day: int = 10) -> Path:
    """A day's file from the platform in March: small payments on 1 coupon in 200."""
    path = out / "later" / f"movements-2023-03-{day}-{movements}.csv"
    if path.exists():
        return path
    path.parent.mkdir(exist_ok=True)
    touched = max(1, coupons // 200)
    at = dt.datetime(2023, 3, day, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movement_id", "inquiry_number", "kind", "amount_yen", "occurred_at", "store_id"])
        for n in range(movements):
            coupon = (n % touched) * 200 + 1
            moment = at + dt.timedelta(seconds=7 * n)
            inquiry = f"CB{100_000_000 + coupon:010d}"  # the generator's numbering
            writer.writerow([f"L{day}{n:011d}", inquiry, "payment", -100, moment.isoformat(), "S00001"])
    return path


def _first_new_day(conninfo: str, *, first: int = 11) -> int:
    """The first March day from ``first`` whose day's file (movement ids ``L<day>…``) the ledger
    does not hold yet."""
    with psycopg.connect(conninfo) as conn:
        for day in range(first, 32):
            held = conn.execute(
                "SELECT 1 FROM coupons_couponmovement WHERE movement_id = %s", [f"L{day}{0:011d}"]
            ).fetchone()
            if held is None:
                return day
    raise SystemExit("every day's file of March is in this ledger already: load it again (no --reuse)")


def _last_run(conninfo: str) -> dict:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT summary FROM claims_eligibilityrun ORDER BY id DESC LIMIT 1").fetchone()[
            0
        ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--coupons", type=int, default=1_000_000)
    parser.add_argument("--later", type=int, default=20_000, help="movements in the day's file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="keep the ledger an earlier run loaded")
    args = parser.parse_args()
    compile_bytecode()

    out = export(args.coupons, args.seed)
    conninfo, url = fresh_database("eligibility_bench", keep=args.reuse)
    if args.reuse:
        later = _later_file(out, args.coupons, args.later, day=_first_new_day(conninfo))
        load_s = 0.0
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                "TRUNCATE claims_reinstatement, claims_reviewresolution, claims_instruction, "
                "claims_entitlementstatuschange, claims_entitlement, claims_eligibilityrun CASCADE"
            )
    else:
        later = _later_file(out, args.coupons, args.later)
        load_s = manage("import_regionpay", "--no-progress", *map(str, sorted(out.glob("*.csv"))), url=url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        movements = conn.execute("SELECT count(*) FROM coupons_couponmovement").fetchone()[0]
        coupons = conn.execute("SELECT count(*) FROM coupons_coupon").fetchone()[0]
        started = time.monotonic()
        conn.execute(BASELINE).fetchone()
        scan_s = time.monotonic() - started
    runs = [("first run after the bulk load (full, creates all)", _timed_run(url), _last_run(conninfo))]
    runs.append(("scheduled run, nothing new", _timed_run(url), _last_run(conninfo)))
    later_s = manage("import_regionpay", "--no-progress", str(later), url=url)
    runs.append(("scheduled run after a day's file", _timed_run(url), _last_run(conninfo)))
    runs.append(("full run, nothing new (--full)", _timed_run(url, "--full"), _last_run(conninfo)))
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
    touched = max(1, args.coupons // 200)
    print(
        f"day's file {later.name}: {args.later:,} movements on {touched:,} coupons "
        f"(imported in {later_s:.1f}s)"
    )
    print(
        "found: " + ", ".join(f"{category} {count:,} ({amount:,} yen)" for category, count, amount in found)
    )
    print(f"{'':52}{'seconds':>9}{'/ scan':>9}  coupons re-decided")
    print(f"{'bare GROUP BY scan of the movements':52}{scan_s:>9.1f}{1:>8.2f}x")
    print("run_eligibility:")
    for name, seconds, summary in runs:
        decided = "all" if summary.get("mode") != "incremental" else f"{summary['coupons']:,}"
        print(f"{'  ' + name:52}{seconds:>9.1f}{seconds / scan_s:>8.2f}x  {decided}")
    print("target: <= 1.50x the scan; each run includes starting manage.py (~1 s)")


if __name__ == "__main__":
    main()
