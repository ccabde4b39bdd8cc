"""Benchmark: the Zengin 総合振込 file of 100,000 transfers against a plain read of the same rows.

    .venv/bin/python bench/zengin.py                    # 100,000 transfers
    .venv/bin/python bench/zengin.py --transfers 10000  # smaller

Builds its own database (``<name>_zengin_bench``, no migrations: one table of transfers with real
bank and branch codes from zengin-code, Zengin-kana holder names and amounts), then times, in the
same run and connection settings:

- the baseline: ``SELECT`` of every column of the 100,000 rows, fetched by the client library;
- the export: the same ``SELECT``, streamed 2,000 rows at a time, each row made a ``Transfer`` by
  the client library (``transfer_row``) and written by ``write_zengin_file`` to a file on disk,
  SHA-256 included;
- the batch path (``payouts.services.batches``): the lines streamed the same way without their
  account numbers, which the batch keeps in line order as one encrypted value (Fernet, as
  ``TransferBatch.account_numbers``), decrypted once and zipped in before the same writer (the
  bytes must be equal).

The rows carry the bank's and branch's Zengin names, as a batch's lines do (taken from
zengin-code when the batch is made, so that re-exporting gives the same bytes after the package
is updated).

Each is timed ``--runs`` times (default 5), alternating; the best of each is reported, wall time
and the client's CPU time. Goal (issue #10): the export ≤ 2× the read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import tempfile
import time
from pathlib import Path

import psycopg
from common import compile_bytecode, fresh_database, machine

SELECT = """
SELECT bank_code, bank_name, branch_code, branch_name, account_type, account_number, holder, amount_yen,
       id::text AS customer_code_1, '' AS customer_code_2, '0' AS new_code, '7' AS transfer_kind
FROM bench_transfer ORDER BY id
"""
KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ"


def _fill(conninfo: str, transfers: int, seed: int) -> None:
    from claims.banking.banks import catalogue, get_bank, get_branch

    rng = random.Random(seed)
    # Where travellers bank: mostly the big banks and ゆうちょ, then a long tail.
    branches = [(b, br) for b, brs in catalogue().branches.items() for br in brs]
    big = [(b, br) for b, br in branches if b in {"0001", "0005", "0009", "9900", "0134"}]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE bench_transfer (
                id bigint PRIMARY KEY,
                bank_code char(4) NOT NULL,
                bank_name varchar(15) NOT NULL,
                branch_code char(3) NOT NULL,
                branch_name varchar(15) NOT NULL,
                account_type text NOT NULL,
                account_number varchar(7) NOT NULL,
                holder varchar(30) NOT NULL,
                amount_yen bigint NOT NULL CHECK (amount_yen > 0)
            )
            """
        )
        with conn.cursor().copy(
            "COPY bench_transfer (id, bank_code, bank_name, branch_code, branch_name, account_type, "
            "account_number, holder, amount_yen) FROM STDIN"
        ) as copy:
            for i in range(1, transfers + 1):
                bank, branch = rng.choice(big if rng.random() < 0.7 else branches)
                family = "".join(rng.choices(KANA, k=rng.randint(2, 6)))
                given = "".join(rng.choices(KANA, k=rng.randint(2, 5)))
                holder = f"{family}{'ﾞ' if rng.random() < 0.3 else ''} {given}"[:30]
                copy.write_row(
                    (
                        i,
                        bank,
                        get_bank(bank).zengin_name,  # type: ignore[union-attr]
                        branch,
                        get_branch(bank, branch).zengin_name,  # type: ignore[union-attr]
                        rng.choice(("ordinary", "ordinary", "ordinary", "current", "savings")),
                        f"{rng.randrange(10_000_000):07d}",
                        holder,
                        rng.randint(1, 3_000) * 100 + rng.randint(0, 99),
                    )
                )
        # The batch's account numbers: one encrypted value, in line order (TransferBatch's field).
        from payouts.models import TransferBatch

        encrypt = TransferBatch._meta.get_field("account_numbers").get_prep_value
        numbers = conn.execute("SELECT account_number FROM bench_transfer ORDER BY id").fetchall()
        conn.execute("CREATE TABLE bench_batch (account_numbers text NOT NULL)")
        conn.execute(
            "INSERT INTO bench_batch VALUES (%s)", [encrypt("\n".join(number for (number,) in numbers))]
        )
        conn.execute("VACUUM ANALYZE bench_transfer")


def _read(conninfo: str) -> tuple[float, float]:
    with psycopg.connect(conninfo) as conn:
        started, cpu = time.monotonic(), time.process_time()
        rows = conn.execute(SELECT).fetchall()
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    if not rows:
        raise SystemExit("no rows")
    return elapsed, cpu


def _export(conninfo: str, path: Path) -> tuple[float, float, object]:
    from payouts.zengin import transfer_row, write_zengin_file

    requester = _requester()
    with psycopg.connect(conninfo) as conn, path.open("wb") as out:
        started, cpu = time.monotonic(), time.process_time()
        # The batch line holds what the file needs, names included (snapshotted when the batch is
        # made, so a re-export gives the same bytes after a zengin-code update), in field order.
        # Streamed 2,000 rows at a time (libpq's chunked mode): the server sends while the writer
        # formats, on the other core, and memory stays one block whatever the batch's size.
        transfers = conn.cursor(row_factory=transfer_row).stream(SELECT, size=2_000)
        summary = write_zengin_file(
            out, requester=requester, transfer_date=dt.date(2023, 5, 15), transfers=transfers
        )
        out.flush()
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    return elapsed, cpu, summary


def _requester():
    from claims.banking.banks import AccountType
    from payouts.zengin import Requester

    return Requester(
        code="1234567890",
        name="ﾘ-ｼﾞﾖﾝﾍﾟｲ ｼﾖｳｶﾞｲﾎｼﾖｳ ｼﾞﾑｷﾖｸ",
        bank_code="0001",
        bank_name="ﾐｽﾞﾎ",
        branch_code="001",
        branch_name="ﾄｳｷﾖｳ",
        account_type=AccountType.ORDINARY,
        account_number="1234567",
    )


BATCH_SELECT = """
SELECT bank_code, bank_name, branch_code, branch_name, account_type, holder, amount_yen,
       id::text AS customer_code_1
FROM bench_transfer ORDER BY id
"""


def _export_batch_path(conninfo: str, path: Path) -> tuple[float, float, object]:
    """As ``payouts.services.batches._transfers`` does it: the batch's account numbers decrypted
    once, zipped with the streamed lines."""
    from payouts.models import TransferBatch
    from payouts.services.batches import transfers_with_numbers
    from payouts.zengin import write_zengin_file

    requester = _requester()
    decrypt = TransferBatch._meta.get_field("account_numbers").to_python
    with psycopg.connect(conninfo) as conn, path.open("wb") as out:
        started, cpu = time.monotonic(), time.process_time()
        (blob,) = conn.execute("SELECT account_numbers FROM bench_batch").fetchone()  # type: ignore[misc]
        numbers = decrypt(blob).split("\n")
        rows = conn.cursor().stream(BATCH_SELECT, size=2_000)
        summary = write_zengin_file(
            out,
            requester=requester,
            transfer_date=dt.date(2023, 5, 15),
            transfers=transfers_with_numbers(rows, numbers),
        )
        out.flush()
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    return elapsed, cpu, summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each, alternating")
    args = parser.parse_args()

    import django

    django.setup()
    compile_bytecode()
    conninfo, _ = fresh_database("zengin_bench", migrate=False)
    _fill(conninfo, args.transfers, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sogo-furikomi.txt"
        reads, exports, batch_exports = [], [], []
        _read(conninfo)  # warm the server's cache and the client's imports
        for _ in range(args.runs):
            reads.append(_read(conninfo))
            seconds, cpu, summary = _export(conninfo, path)
            exports.append((seconds, cpu))
            batch_path = Path(tmp) / "batch-path.txt"
            seconds, cpu, _ = _export_batch_path(conninfo, batch_path)
            batch_exports.append((seconds, cpu))
            if batch_path.read_bytes() != path.read_bytes():
                a, b = batch_path.read_bytes(), path.read_bytes()
                at = next(i for i in range(min(len(a), len(b))) if a[i] != b[i])
                raise SystemExit(f"the batch path wrote other bytes from byte {at}")
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = io.BytesIO(handle.read(244))

    read_s, export_s = min(w for w, _ in reads), min(w for w, _ in exports)
    read_cpu, export_cpu = min(c for _, c in reads), min(c for _, c in exports)
    print()
    print(machine(conninfo))
    print(f"transfers: {summary.count:,}, total {summary.total_yen:,} yen, file {size:,} bytes")  # type: ignore[attr-defined]
    print(f"file starts: {head.getvalue()[:122]!r}")
    print(f"best of {args.runs} runs{'':27}{'wall s':>9}{'/ read':>9}{'client CPU s':>14}{'/ read':>9}")
    print(
        f"{'plain read of the rows (SELECT, fetchall)':44}{read_s:>9.3f}{1:>8.2f}x{read_cpu:>14.3f}{1:>8.2f}x"
    )
    print(
        f"{'Zengin file (read + Transfer + write)':44}{export_s:>9.3f}{export_s / read_s:>8.2f}x"
        f"{export_cpu:>14.3f}{export_cpu / read_cpu:>8.2f}x"
    )
    batch_s, batch_cpu = min(w for w, _ in batch_exports), min(c for _, c in batch_exports)
    print(
        f"{'batch path (+ decrypt the numbers, zip)':44}{batch_s:>9.3f}{batch_s / read_s:>8.2f}x"
        f"{batch_cpu:>14.3f}{batch_cpu / read_cpu:>8.2f}x"
    )
    print(f"all runs (wall): read {', '.join(f'{w:.3f}' for w, _ in reads)}")
    print(f"               export {', '.join(f'{w:.3f}' for w, _ in exports)}")
    print(f"           batch path {', '.join(f'{w:.3f}' for w, _ in batch_exports)}")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("goal: <= 2.00x the read (wall)")


if __name__ == "__main__":
    main()
