"""Benchmark: import_regionpay of N movements against a raw COPY of the same file.

    .venv/bin/python bench/import_ledger.py                       # 1,000,000 movements
    .venv/bin/python bench/import_ledger.py --movements 10000000  # the full run

Runs against the server of DATABASE_URL (or the one `make run` left in .data/services.env), in a
database of its own (``<name>_import_bench``, made anew). The export is generated once per size
under bench/out/ and reused. The import runs as its own process (``manage.py import_regionpay``),
so its wall time and peak memory (max RSS) are the command's as a user runs it. The baseline is
``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the same file, streamed by the same client library
in the same chunk size, into an unindexed table with the ledger's column types.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from common import MOVEMENTS_PER_COUPON, ROOT, compile_bytecode, export, fresh_database, machine

CHUNK = 1 << 20
RAW_TABLE = """
CREATE TABLE bench_raw_movements (
  movement_id text, inquiry_number text, kind text, amount_yen bigint, occurred_at timestamptz,
  store_id text, request_id text, app_account_id text
)
"""


def _run_import(url: str, *paths) -> tuple[float, int]:
    """Wall seconds and the peak RSS (KiB) of an import_regionpay process."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "manage.py", "import_regionpay", "--no-progress", *map(str, paths)],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=url),
    )
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"import failed with status {status}")
    return time.monotonic() - started, usage.ru_maxrss


def _raw_copy(conninfo: str, path) -> float:
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


def _later_file(movements_csv: Path) -> Path:
    """The first tenth of the file's movements again, under new ids ("N..."): a later file of new
    movements for a ledger that already holds many (the direct path, not the first load's)."""
    later = movements_csv.parent / "later" / "movements-new-tenth.csv"
    if later.exists():
        return later
    later.parent.mkdir(exist_ok=True)
    with movements_csv.open("rb") as source, later.open("wb") as target:
        target.write(source.readline())
        lines = sum(1 for _ in source)
        source.seek(0)
        source.readline()
        for _, line in zip(range(lines // 10), source, strict=False):
            target.write(b"N" + line[1:])
    return later


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    compile_bytecode()

    out = export(max(1, args.movements // MOVEMENTS_PER_COUPON), args.seed)
    conninfo, url = fresh_database("import_bench")
    movements_csv = out / "movements.csv"
    setup_s, _ = _run_import(url, out / "stores.csv", out / "coupons.csv")
    import_s, peak_kb = _run_import(url, movements_csv)
    again_s, _ = _run_import(url, movements_csv)
    later_csv = _later_file(movements_csv)
    later_s, _ = _run_import(url, later_csv)
    raw_s = _raw_copy(conninfo, movements_csv)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT count(*) FROM coupons_couponmovement WHERE movement_id < 'N'").fetchone()[
            0
        ]
        later_rows = conn.execute(
            "SELECT count(*) FROM coupons_couponmovement WHERE movement_id >= 'N'"
        ).fetchone()[0]
        raw_rows = conn.execute("SELECT count(*) FROM bench_raw_movements").fetchone()[0]
    if rows != raw_rows:
        raise SystemExit(f"row counts differ: imported {rows:,}, raw COPY {raw_rows:,}")

    print()
    print(machine(conninfo))
    print(
        f"file: {movements_csv.name}, {rows:,} movements, {movements_csv.stat().st_size / 1e6:,.0f} MB "
        f"(stores + coupons imported first in {setup_s:.1f}s)"
    )
    print(f"{'':36}{'seconds':>10}{'rows/s':>14}")
    print(f"{'raw COPY into unindexed table':36}{raw_s:>10.1f}{rows / raw_s:>14,.0f}")
    print(f"{'import_regionpay (new rows)':36}{import_s:>10.1f}{rows / import_s:>14,.0f}")
    print(f"{'import_regionpay (same file again)':36}{again_s:>10.1f}{rows / again_s:>14,.0f}")
    print(f"{'import_regionpay (a later file: ':36}")
    print(f"{f'  {later_rows:,} new rows, filled ledger)':36}{later_s:>10.1f}{later_rows / later_s:>14,.0f}")
    print(f"ratio import / raw COPY: {import_s / raw_s:.2f}x (target <= 2.00x)")
    print(f"peak memory of the import process: {peak_kb / 1024:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
