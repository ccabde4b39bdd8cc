"""What the benchmarks share: a database of their own, and the generated export they run on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # a local benchmark, not a deployment

# ~10 movements a coupon: issue, charge, payments (some duplicated), cancels.
PAYMENTS_PER_COUPON = 9.6
MOVEMENTS_PER_COUPON = 10


def compile_bytecode() -> None:
    """Compile the project's and its libraries' modules once, as an installed portal has them.

    Where PYTHONDONTWRITEBYTECODE is set (this machine, the Docker image) nothing writes them on
    import, and each timed command would spend ~1.2 s compiling ~1,000 modules (measured with
    cProfile: builtins.compile) instead of doing its work. ``make install`` compiles the libraries
    (``uv pip install --compile-bytecode``), the Dockerfile the project.
    """
    import compileall
    import sysconfig

    for folder in ("config", "coupons", "claims", "callcenter", "payouts", "notifications"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "manage.py", quiet=1)
    compileall.compile_dir(sysconfig.get_paths()["purelib"], quiet=1)  # the virtualenv's libraries


def export(coupons: int, seed: int) -> Path:
    """The generated export for this size, made once under bench/out/ and reused."""
    import django

    django.setup()
    from coupons.services.demo_export import generate_regionpay_export

    out = ROOT / "bench" / "out" / f"export-{coupons}-{seed}"
    if (out / "store_sales.csv").exists():
        return out
    started = time.monotonic()
    stats = generate_regionpay_export(
        coupons=coupons, out=out, seed=seed, payments_per_coupon=PAYMENTS_PER_COUPON
    )
    print(
        f"generated {stats.coupons:,} coupons, {stats.movements:,} movements, {stats.store_sales:,} "
        f"store sales in {time.monotonic() - started:.0f}s -> {out}"
    )
    return out


def fresh_database(suffix: str, *, migrate: bool = True, keep: bool = False) -> tuple[str, str]:
    """Drop and create ``<project db>_<suffix>`` on the configured server, migrate it (unless told
    not to), and return (psycopg conninfo, DATABASE_URL) for it. With ``keep``, the database an
    earlier run left is kept as it is (and migrated to this code)."""
    from django.conf import settings  # reads DATABASE_URL or .data/services.env

    db = settings.DATABASES["default"]
    server = {
        "host": db["HOST"] or "localhost",
        "port": str(db["PORT"] or 5432),
        "user": db["USER"] or "postgres",
    }
    name = f"{db['NAME']}_{suffix}"
    with psycopg.connect(
        psycopg.conninfo.make_conninfo(dbname="postgres", **server), autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not (keep and exists):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    conninfo = psycopg.conninfo.make_conninfo(dbname=name, **server)
    url = f"postgres://{server['user']}@{quote(server['host'], safe='')}:{server['port']}/{name}"
    if migrate:
        manage("migrate", "-v0", url=url)
    return conninfo, url


def manage(*args: str, url: str) -> float:
    """Run a manage.py command as its own process against ``url``; return its wall time."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=dict(os.environ, DATABASE_URL=url), check=True
    )
    return time.monotonic() - started


def machine(conninfo: str) -> str:
    with psycopg.connect(conninfo) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        shared = conn.execute("SHOW shared_buffers").fetchone()[0]
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {version} (shared_buffers {shared})"
    )
