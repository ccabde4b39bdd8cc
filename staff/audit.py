"""Reading the audit trail: pghistory's events, in words and in Japan time, for the audit page and
the incident's history page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from pghistory.models import Events

JST = ZoneInfo("Asia/Tokyo")
ACTIONS = {"insert": "作成", "update": "変更", "delete": "削除", "baseline": "記録開始時点の内容"}


@dataclass
class AuditRow:
    at: dt.datetime
    action: str
    model_label: str
    model_name: str
    object_id: str
    actor: str
    url: str
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def audit_events(
    *, user_id: int | None = None, model: str = "", object_id: str = "", day: dt.date | None = None
) -> QuerySet:
    """Every tracked write, newest first, filtered by person, object and day (a Japan-time day)."""
    events = Events.objects.all()
    if user_id is not None:
        events = events.filter(pgh_context__user=user_id)
    if model:
        events = events.filter(pgh_obj_model=model)
    if object_id:
        events = events.filter(pgh_obj_id=object_id)
    if day is not None:
        start = dt.datetime.combine(day, dt.time(), tzinfo=JST)
        events = events.filter(pgh_created_at__gte=start, pgh_created_at__lt=start + dt.timedelta(days=1))
    return events.order_by("-pgh_created_at", "-pgh_id")


def tracked_models() -> list[tuple[str, str]]:
    """(label, Japanese name) of each model with an audit trail, for the page's object filter."""
    labels = set()
    for model in apps.get_app_config("staff").get_models():
        tracked = getattr(model, "pgh_tracked_model", None)
        if tracked is not None:
            labels.add((tracked._meta.label, str(tracked._meta.verbose_name)))
    return sorted(labels)


def _field(model_label: str, name: str) -> Any:
    try:
        return apps.get_model(model_label)._meta.get_field(name)
    except (LookupError, ValueError, FieldDoesNotExist):  # a removed field or model
        return None


def _change(model_label: str, name: str, old: Any, new: Any) -> tuple[str, Any, Any]:
    """A field by its Japanese name, its values as the pages show them (choices by their label)."""
    found = _field(model_label, name)
    if found is None:
        return name, _shown(old), _shown(new)
    choices = dict(found.flatchoices) if getattr(found, "choices", None) else {}
    return (
        str(getattr(found, "verbose_name", name)),
        choices.get(old, _shown(old)),
        choices.get(new, _shown(new)),
    )


def _shown(value: Any) -> Any:
    """A stored value as staff read it: instants in Japan time (the triggers store UTC ISO text)."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        try:
            instant = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if instant.tzinfo is not None:
            return instant.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")
    return value


def audit_rows(events: Any) -> list[AuditRow]:
    """Events in words: who (the signed-in staff user), when (Japan time), what changed."""
    events = list(events)
    user_ids = {e.pgh_context.get("user") for e in events if e.pgh_context and e.pgh_context.get("user")}
    names = {
        user.pk: (user.get_full_name() or user.get_username())
        for user in get_user_model().objects.filter(pk__in=user_ids)
    }
    rows = []
    for event in events:
        context = event.pgh_context or {}
        action = event.pgh_label.split(".")[-1] if event.pgh_label else ""
        label = event.pgh_obj_model or ""
        try:
            model_name = str(apps.get_model(label)._meta.verbose_name)
        except (LookupError, ValueError):
            model_name = label
        if event.pgh_diff:
            changes = [_change(label, k, old, new) for k, (old, new) in sorted(event.pgh_diff.items())]
        else:
            changes = []
        rows.append(
            AuditRow(
                at=event.pgh_created_at.astimezone(JST),
                action=ACTIONS.get(action, action),
                model_label=label,
                model_name=model_name,
                object_id=event.pgh_obj_id or "",
                actor=names.get(context.get("user"), "（システム・直接の操作）")
                if context.get("user")
                else "（システム・直接の操作）",
                url=context.get("url", ""),
                changes=changes,
            )
        )
    return rows
