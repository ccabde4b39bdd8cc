"""The incident the site speaks for, and whether its application window is open on the portal clock."""

from __future__ import annotations

import datetime as dt
import enum
from zoneinfo import ZoneInfo

from claims.models import Incident
from config import clock

JST = ZoneInfo("Asia/Tokyo")


class Window(enum.StrEnum):
    NOT_OPEN = "not_open"
    OPEN = "open"
    CLOSED = "closed"


def current_incident() -> Incident | None:
    """The site speaks for the first (today: the only) incident, as the staff dashboard does."""
    return Incident.objects.order_by("pk").first()


def window_state(incident: Incident, at: dt.datetime | None = None) -> Window:
    """Open from the opening day's 00:00 JST to the end of the deadline day (23:59:59 JST)."""
    today = (at or clock.now()).astimezone(JST).date()
    if today < incident.application_opens_on:
        return Window.NOT_OPEN
    if today > incident.application_deadline:
        return Window.CLOSED
    return Window.OPEN
