"""``make run`` with DATABASE_URL naming a database the server does not have yet (config/localservices.py)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.conf import settings

from config import localservices


def _server_url(dbname: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"


def _exists(dbname: str) -> bool:
    with psycopg.connect(_server_url("postgres").replace("postgres://", "postgresql://", 1)) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone())


def test_a_missing_database_is_created_once_and_an_existing_one_left_alone(capsys) -> None:
    dbname = f"regionpay_run_{uuid.uuid4().hex[:8]}"
    try:
        localservices._ensure_named_database(_server_url(dbname))
        assert _exists(dbname)
        assert "created the database" in capsys.readouterr().out
        localservices._ensure_named_database(_server_url(dbname))  # second run: nothing to do
        assert capsys.readouterr().out == ""
    finally:
        with psycopg.connect(
            _server_url("postgres").replace("postgres://", "postgresql://", 1), autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')


def test_an_unreachable_server_is_named_in_one_plain_sentence() -> None:
    with pytest.raises(SystemExit) as stopped:
        localservices._ensure_named_database("postgres://postgres@127.0.0.1:1/regionpay")
    message = str(stopped.value)
    assert "DATABASE_URL names a PostgreSQL server that cannot be used" in message
    assert "unset it to run an embedded PostgreSQL" in message
