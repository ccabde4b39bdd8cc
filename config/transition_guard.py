"""The database's copy of a declared transition table: a trigger that holds raw SQL to it.

Each status-bearing model that declares its moves in Python (``claims.services.transitions`` for
entitlements, ``payouts.services.transitions`` for payouts) installs this guard by a migration;
a test compares the trigger with the table. The WHEN clauses carry the table, so the function runs
(and raises) only for a refused move: set-based inserts and updates of hundreds of thousands of
rows pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set


def guard_sql(
    *, table: str, noun: str, function: str, initial: Set[str], transitions: Mapping[str, Set[str]]
) -> str:
    """CREATE the refusing function and the two triggers on ``table`` (``noun`` names a row in
    the error message): an INSERT must start in ``initial``, an UPDATE of the status must be a
    pair of ``transitions``."""
    starts = ", ".join(f"'{s}'" for s in sorted(initial))
    pairs = ", ".join(f"('{a}', '{b}')" for a in sorted(transitions) for b in sorted(transitions[a]))
    return f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION '{noun} % may not start as "%"', NEW.id, NEW.status
          USING ERRCODE = 'check_violation';
      END IF;
      RAISE EXCEPTION '{noun} %: "%" -> "%" is not a declared transition', NEW.id, OLD.status, NEW.status
        USING ERRCODE = 'check_violation';
    END $$;
    DROP TRIGGER IF EXISTS {table}_start ON {table};
    CREATE TRIGGER {table}_start BEFORE INSERT ON {table}
      FOR EACH ROW WHEN (NEW.status::text NOT IN ({starts}))
      EXECUTE FUNCTION {function}();
    DROP TRIGGER IF EXISTS {table}_transition ON {table};
    CREATE TRIGGER {table}_transition BEFORE UPDATE OF status ON {table}
      FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                         AND (OLD.status::text, NEW.status::text) NOT IN ({pairs}))
      EXECUTE FUNCTION {function}();
    """


def drop_guard_sql(*, table: str, function: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_start ON {table};
DROP TRIGGER IF EXISTS {table}_transition ON {table};
DROP FUNCTION IF EXISTS {function}();
"""
