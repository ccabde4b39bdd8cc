"""Benchmark: the Zengin 総合振込 file of 100,000 transfers against a plain read of the same rows.

    .venv/bin/python bench/zengin.py                    # 100,000 transfers
    .venv/bin/python bench/zengin.py --transfers 10000  # smaller

Builds its own database (``<name>_zengin_bench``, no migrations: one table of transfers with real
bank and branch codes from zengin-code, Zengin-kana holder names and amounts), then times, in the
same run and connection settings:

- the baseline: ``SELECT`` of every column of the 100,000 rows, fetched by the client library;
- the export: the same ``SELECT``, each row made a ``Transfer`` and written by
  ``write_zengin_file`` to a file on disk, SHA-256 included. The rows carry the bank's and
  branch's Zengin names, as a batch's lines will (taken from zengin-code when the batch is made,
  so that re-exporting gives the same bytes after the package is updated).

Each is timed three times; the best of each is reported (the stricter baseline). Goal (issue #10):
the export ≤ 2× the read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import tempfile
import time
from pathlib import Path

import psycopg
from common import compile_bytecode, fresh_database, machine

SELECT = """
SELECT id, bank_code, bank_name, branch_code, branch_name, account_type, account_number, holder, amount_yen
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
        with conn.cursor().copy("COPY bench_transfer FROM STDIN") as copy:
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
        conn.execute("VACUUM ANALYZE bench_transfer")


def _read(conninfo: str) -> float:
    with psycopg.connect(conninfo) as conn:
        started = time.monotonic()
        rows = conn.execute(SELECT).fetchall()
        elapsed = time.monotonic() - started
    if not rows:
        raise SystemExit("no rows")
    return elapsed


def _export(conninfo: str, path: Path) -> tuple[float, object]:
    from claims.banking.banks import AccountType
    from payouts.zengin import Requester, Transfer, write_zengin_file

    requester = Requester(
        code="1234567890",
        name="ﾘ-ｼﾞﾖﾝﾍﾟｲ ｼﾖｳｶﾞｲﾎｼﾖｳ ｼﾞﾑｷﾖｸ",
        bank_code="0001",
        bank_name="ﾐｽﾞﾎ",
        branch_code="001",
        branch_name="ﾄｳｷﾖｳ",
        account_type=AccountType.ORDINARY,
        account_number="1234567",
    )
    types = {t.value: t for t in AccountType}
    with psycopg.connect(conninfo) as conn, path.open("wb") as out:
        started = time.monotonic()
        rows = conn.execute(SELECT).fetchall()

        def transfers():
            # The batch line holds what the file needs, names included (snapshotted when the
            # batch is made, so a re-export gives the same bytes after a zengin-code update).
            for id_, bank_code, bank_name, branch_code, branch_name, type_, number, holder, amount in rows:
                yield Transfer(
                    bank_code=bank_code,
                    branch_code=branch_code,
                    account_type=types[type_],
                    account_number=number,
                    holder=holder,
                    amount_yen=amount,
                    customer_code_1=str(id_),
                    bank_name=bank_name,
                    branch_name=branch_name,
                )

        summary = write_zengin_file(
            out, requester=requester, transfer_date=dt.date(2023, 5, 15), transfers=transfers()
        )
        out.flush()
        elapsed = time.monotonic() - started
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import django

    django.setup()
    compile_bytecode()
    conninfo, _ = fresh_database("zengin_bench", migrate=False)
    _fill(conninfo, args.transfers, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sogo-furikomi.txt"
        reads, exports = [], []
        for _ in range(3):
            reads.append(_read(conninfo))
            seconds, summary = _export(conninfo, path)
            exports.append(seconds)
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = io.BytesIO(handle.read(244))

    read_s, export_s = min(reads), min(exports)
    print()
    print(machine(conninfo))
    print(f"transfers: {summary.count:,}, total {summary.total_yen:,} yen, file {size:,} bytes")  # type: ignore[attr-defined]
    print(f"file starts: {head.getvalue()[:122]!r}")
    print(f"{'':44}{'seconds':>9}{'/ read':>9}")
    print(f"{'plain read of the rows (SELECT, fetchall)':44}{read_s:>9.3f}{1:>8.2f}x")
    print(f"{'Zengin file (read + Transfer + write)':44}{export_s:>9.3f}{export_s / read_s:>8.2f}x")
    print(f"all runs: read {', '.join(f'{s:.3f}' for s in reads)}")
    print(f"          export {', '.join(f'{s:.3f}' for s in exports)}")
    print("goal: <= 2.00x the read")


if __name__ == "__main__":
    main()
