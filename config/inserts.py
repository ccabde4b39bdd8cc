"""New rows that belong together — an application, its first status change, the outbox row of its
code — written by one INSERT statement (PostgreSQL's data-modifying CTEs) instead of one ``save()``
each.

Through the ORM, every row is a query compiled in Python and a round trip, and the rows need a
transaction around them (BEGIN and COMMIT: two more round trips). One statement is atomic on its
own, so outside a transaction it commits by itself, and inside the caller's it is one more
statement of it; it is prepared once per connection (``config.prepared``). The values go through
each field's own ``pre_save`` and ``get_db_prep_save``, as ``save()`` sends them (an encrypted
field encrypts, a phone number becomes E.164); the columns the database fills (the primary key,
``db_default``) come back with ``RETURNING`` and are set on the instances, which then read as
saved ones do. Database triggers fire as for any INSERT, and the audit trail's (pghistory) gets
the request's context from the statement itself, the same id and metadata pghistory's execute
wrapper would have set in front of it. What it does not do is send ``pre_save``/``post_save``
signals: nothing listens to them for the models written this way.
``tests/claims/applications/test_inserts.py`` compares the rows with the ORM's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pghistory.config
import pghistory.runtime
from django.db import connections
from django.db.models import Field, Model
from django.db.models.expressions import DatabaseDefault

from config.prepared import fetchone_prepared


@dataclass(frozen=True)
class NewRow:
    """One row of :func:`insert_rows`. ``name`` names it for the rows after it; ``parents`` maps
    a foreign key's attribute (``application_id``) to the name of an earlier row it points at."""

    name: str
    instance: Model
    parents: Mapping[str, str] = field(default_factory=dict)


def insert_rows(rows: Sequence[NewRow], *, using: str = "default") -> None:
    """INSERT ``rows`` in one statement, in their order, and set on each instance its primary key,
    the columns the database filled and its foreign keys to the earlier rows. Raises what the
    statement raises (``IntegrityError`` for a unique key taken, with nothing written)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    audit = _audit_context()
    ctes: list[str] = []
    params: list[Any] = []
    if audit is not None:
        ctes.append(
            "audit AS (SELECT set_config('pghistory.context_id', %s, true), "
            "set_config('pghistory.context_metadata', %s, true))"
        )
        params += audit
    filled: list[tuple[NewRow, Field]] = []  # the columns the database fills, row by row
    links: list[tuple[Model, str, Model]] = []  # (child, its foreign key's name, parent)
    instances = {row.name: row.instance for row in rows}
    for row in rows:
        columns: list[str] = []
        values: list[str] = []
        for model_field in row.instance._meta.concrete_fields:
            parent = row.parents.get(model_field.attname)
            if parent is not None:
                target = model_field.target_field.column  # type: ignore[attr-defined]
                columns.append(quote(model_field.column))
                values.append(f"(SELECT {quote(target)} FROM {quote(parent)})")  # noqa: S608
                links.append((row.instance, model_field.name, instances[parent]))
                continue
            value = model_field.pre_save(row.instance, add=True)
            if isinstance(value, DatabaseDefault) or (model_field.primary_key and value is None):
                filled.append((row, model_field))
                continue
            columns.append(quote(model_field.column))
            values.append("%s")
            params.append(model_field.get_db_prep_save(value, connection=connection))
        table = quote(row.instance._meta.db_table)
        # With an audit context, each row is selected from it, so the context is set before the
        # audit trail's triggers (which fire at the statement's end) read it.
        source = f"SELECT {', '.join(values)} FROM audit" if audit else f"VALUES ({', '.join(values)})"  # noqa: S608
        ctes.append(f"{quote(row.name)} AS (INSERT INTO {table} ({', '.join(columns)}) {source} RETURNING *)")
    selected = ", ".join(f"{quote(row.name)}.{quote(f.column)}" for row, f in filled) or "1"
    sources = ", ".join(quote(row.name) for row in rows)
    sql = f"WITH {', '.join(ctes)} SELECT {selected} FROM {sources}"  # noqa: S608
    values_back = fetchone_prepared(sql, params, using=using)
    assert values_back is not None  # noqa: S101 - one row from each INSERT
    for (row, model_field), value in zip(filled, values_back, strict=True):
        from_db = getattr(model_field, "from_db_value", None)
        setattr(row.instance, model_field.attname, from_db(value, None, connection) if from_db else value)
    for row in rows:
        row.instance._state.adding = False
        row.instance._state.db = using
    for child, name, parent_instance in links:
        setattr(child, name, parent_instance)  # the key's value, and the parent cached as save() leaves it


def _audit_context() -> tuple[str, str] | None:
    """The audit trail's context of this thread (pghistory's middleware: the staff user and the
    URL of the request), as pghistory's execute wrapper would set it, or None outside one."""
    current = getattr(pghistory.runtime._tracker, "value", None)
    if current is None:
        return None
    return str(current.id), json.dumps(current.metadata, cls=pghistory.config.json_encoder())
