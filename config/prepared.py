"""Statements PostgreSQL parses and plans once per connection instead of at every execution.

Django's psycopg cursors bind parameters on the client (the values are written into the SQL text)
and never prepare, so PostgreSQL parses, analyses and plans every statement anew. For the
statements an application's submission runs on every request that was most of their cost
(measured on this machine: the coupon check ~1.0 ms of PostgreSQL's CPU, ~0.1 ms prepared; the
application's one INSERT ~2.3 ms, ~1.1 ms prepared). Here the statement goes with server-side
parameters and is prepared on its connection (psycopg names and keeps it: ``prepare_threshold``
in the database OPTIONS must not be None, settings.DATABASES); later executions only bind and run.

Such a statement does not pass through Django's execute wrappers — pghistory's among them, whose
context travels as a second statement in front of the first, which a prepared statement cannot
carry. A statement that writes to an audited table sets the audit context itself
(``config.inserts``). Errors are Django's (``IntegrityError``...), as from any cursor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.db import connections


def fetchone_prepared(
    sql: str, params: Sequence[Any] | Mapping[str, Any], *, using: str = "default"
) -> tuple[Any, ...] | None:
    """Execute ``sql`` (``%s`` or ``%(name)s`` placeholders) as a prepared statement on the
    connection of ``using`` and return its first row."""
    connection = connections[using]
    connection.validate_no_broken_transaction()
    with (
        connection.cursor() as django_cursor,  # the connection opened, checked and thread-bound
        psycopg.Cursor(django_cursor.cursor.connection) as cursor,
        connection.wrap_database_errors,
    ):
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()
