"""Benchmark: import_regionpay of N movements against a raw COPY of the same file.

    .venv/bin/python bench/import_ledger.py                       # 1,000,000 movements
    .venv/bin/python bench/import_ledger.py --movements 10000000  # the full run

Runs against the server of DATABASE_URL (or the one `make run` left in .data/services.env), in a
database of its own (``<name>_bench``, dropped and created anew). The export is generated once
per size under bench/out/ and reused. The import runs as its own process (``manage.py
import_regionpay``), so its wall time and peak memory (max RSS) are the command's as a user runs
it. The baseline is ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the same file, streamed by the
same client library in the same chunk size, into an unindexed table with the ledger's column types.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # a local benchmark, not a deployment

CHUNK = 1 << 20
RAW_TABLE = """
CREATE TABLE bench_raw_movements (
  movement_id text, inquiry_number text, kind text, amount_yen bigint, occurred_at timestamptz,
  store_id text, request_id text, app_account_id text
)
"""


def _bench_url() -> tuple[str, str]:
    from django.conf import settings  # reads DATABASE_URL or .data/services.env

    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_bench"
    host = db["HOST"] or "localhost"
    conninfo = psycopg.conninfo.make_conninfo(
        host=host, port=str(db["PORT"] or 5432), user=db["USER"] or "postgres", dbname="postgres"
    )
    return conninfo, name


def _recreate_database(conninfo: str, name: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def _database_url(conninfo: str) -> str:
    from urllib.parse import quote

    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    return f"postgres://{info['user']}@{quote(info['host'], safe='')}:{info['port']}/{info['dbname']}"


def _generate(movements: int, seed: int) -> Path:
    import django

    django.setup()
    from coupons.services.demo_export import generate_regionpay_export

    out = ROOT / "bench" / "out" / f"ledger-{movements}-{seed}"
    if (out / "movements.csv").exists():
        return out
    # The generator writes ~5.6 movements per coupon (issue, charge, payments, cancels).
    coupons = max(1, round(movements / 5.6))
    started = time.monotonic()
    stats = generate_regionpay_export(coupons=coupons, out=out, seed=seed, payments_per_coupon=6.0)
    print(
        f"generated {stats.movements:,} movements for {stats.coupons:,} coupons "
        f"in {time.monotonic() - started:.0f}s -> {out}"
    )
    return out


def _run_import(url: str, *paths: Path) -> tuple[float, int]:
    env = dict(os.environ, DATABASE_URL=url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "import_regionpay", "--no-progress", *map(str, paths)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    elapsed = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak_kb, before)


def _raw_copy(conninfo: str, path: Path) -> float:
    with psycopg.connect(conninfo) as conn:
        conn.execute(RAW_TABLE)
        conn.commit()
        started = time.monotonic()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_raw_movements FROM STDIN (FORMAT csv, HEADER)") as copy,
            path.open("rb") as handle,
        ):
            while chunk := handle.read(CHUNK):
                copy.write(chunk)
        conn.commit()
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    out = _generate(args.movements, args.seed)
    server, name = _bench_url()
    conninfo = _recreate_database(server, name)
    url = _database_url(conninfo)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=url),
        check=True,
    )
    movements_csv = out / "movements.csv"
    size_mb = movements_csv.stat().st_size / 1e6
    with psycopg.connect(conninfo) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]

    setup_s, _ = _run_import(url, out / "stores.csv", out / "coupons.csv")
    import_s, peak_kb = _run_import(url, movements_csv)
    again_s, _ = _run_import(url, movements_csv)
    raw_s = _raw_copy(conninfo, movements_csv)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT count(*) FROM coupons_couponmovement").fetchone()[0]
        raw_rows = conn.execute("SELECT count(*) FROM bench_raw_movements").fetchone()[0]
    if rows != raw_rows:
        raise SystemExit(f"row counts differ: imported {rows:,}, raw COPY {raw_rows:,}")

    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {version}"
    )
    print(
        f"file: {movements_csv.name}, {rows:,} movements, {size_mb:,.0f} MB "
        f"(stores + coupons imported first in {setup_s:.1f}s)"
    )
    print(f"{'':34}{'seconds':>10}{'rows/s':>14}")
    print(f"{'raw COPY into unindexed table':34}{raw_s:>10.1f}{rows / raw_s:>14,.0f}")
    print(f"{'import_regionpay (first import)':34}{import_s:>10.1f}{rows / import_s:>14,.0f}")
    print(f"{'import_regionpay (same file again)':34}{again_s:>10.1f}{rows / again_s:>14,.0f}")
    print(f"ratio import / raw COPY: {import_s / raw_s:.2f}x (target <= 2.00x)")
    print(f"peak memory of the import process: {peak_kb / 1024:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
