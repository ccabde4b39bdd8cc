"""The change log of the platform's data (:class:`~coupons.models.LedgerChange`).

Every write to movements or till records notes what it touched, in its own transaction; the
eligibility engine then re-decides only those coupons. A write that touched more coupons than
``BULK_KEYS`` notes ``all`` instead: a reader then starts over, which at that size costs about the
same as reading the touched coupons one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from coupons.models import LedgerChange

BULK_KEYS = 50_000

# The writing transaction, as a number (xid8 fits a bigint for the next few billion years).
CURRENT_XACT = "pg_current_xact_id()::text::bigint"
# What a reader is sure to see (the transactions committed when it began) — and, with the
# oldest transaction then running as a quick lower bound, the changes it may not have seen. A
# change whose writer began before and committed after is never missed, whatever the commit order.
CURRENT_SNAPSHOT = "SELECT pg_snapshot_xmin(s)::text::bigint, s::text FROM pg_current_snapshot() AS s"
NOT_SEEN = "(xact >= %(since)s AND NOT pg_visible_in_snapshot(xact::text::xid8, %(snapshot)s::pg_snapshot))"

Scope = LedgerChange.Scope


def log_keys_sql(scope: str, source: str) -> str:
    """SQL (a data-modifying CTE body) that notes the keys of ``source`` — a query of
    ``(key, occurred_at)`` rows — or one ``all`` row when they are more than BULK_KEYS."""
    return f"""
    INSERT INTO coupons_ledgerchange (xact, scope, key, first_at, last_at)
    WITH k AS (
      SELECT key, min(occurred_at) AS first_at, max(occurred_at) AS last_at
      FROM ({source}) AS s (key, occurred_at)
      GROUP BY key
    ),
    n AS (SELECT count(*) AS keys FROM k)
    SELECT {CURRENT_XACT}, '{scope}', k.key, k.first_at, k.last_at FROM k, n WHERE n.keys <= {BULK_KEYS}
    UNION ALL
    SELECT {CURRENT_XACT}, 'all', '', NULL, NULL FROM n WHERE n.keys > {BULK_KEYS}
    """


def ledger_changes_note_all() -> None:
    """Note that the current transaction changed the data wholesale (a bulk load)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO coupons_ledgerchange (xact, scope, key) VALUES ({CURRENT_XACT}, %s, '')",
            [Scope.ALL],
        )


def ledger_changes_note(*, scope: str, rows: Iterable[tuple[str, object]]) -> None:
    """Note, in the current transaction, the keys (inquiry numbers or store ids) of ``rows`` —
    ``(key, occurred_at)`` pairs. For writers other than the importer (tests, repairs)."""
    spans: dict[str, list] = {}
    for key, at in rows:
        span = spans.setdefault(key, [at, at])
        span[0], span[1] = min(span[0], at), max(span[1], at)
    if not spans:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO coupons_ledgerchange (xact, scope, key, first_at, last_at) "
            f"VALUES ({CURRENT_XACT}, %s, %s, %s, %s)",
            [(scope, key, first, last) for key, (first, last) in spans.items()],
        )


def ledger_changes_unseen(*, since: int | None, snapshot: str | None) -> bool:
    """Whether any change was written that a reader with this snapshot (None: no reader yet) may
    not have seen."""
    with connection.cursor() as cursor:
        if since is None or snapshot is None:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM coupons_ledgerchange)")
        else:
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM coupons_ledgerchange WHERE {NOT_SEEN})",
                {"since": since, "snapshot": snapshot},
            )
        return bool(cursor.fetchone()[0])
