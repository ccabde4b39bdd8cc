"""The incident the site speaks for, and whether its application window is open on the portal clock."""

from __future__ import annotations

import datetime as dt
import enum
from zoneinfo import ZoneInfo

from claims.models import Incident
from claims.services import applications as rules
from config import clock

JST = ZoneInfo("Asia/Tokyo")


class Window(enum.StrEnum):
    NOT_OPEN = "not_open"
    OPEN = "open"
    CLOSED = "closed"


def current_incident() -> Incident | None:
    """The incident the services serve (the API and the pages speak for the same one)."""
    try:
        return rules.current_incident()
    except Incident.DoesNotExist:
        return None


def window_state(incident: Incident, at: dt.datetime | None = None) -> Window:
    """Open from the opening day's 00:00 JST to the end of the deadline day (23:59:59 JST)."""
    today = (at or clock.now()).astimezone(JST).date()
    if today < incident.application_opens_on:
        return Window.NOT_OPEN
    if today > incident.application_deadline:
        return Window.CLOSED
    return Window.OPEN
