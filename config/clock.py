"""The portal's one clock.

Every "now" in the portal comes from :func:`now`. ``PORTAL_NOW`` (ISO 8601 with an offset) pins it
for the demo (``make run``) and the tests, and only where the settings allow it
(``PORTAL_CLOCK_PINNABLE``, on with ``DJANGO_DEBUG``): production settings refuse to start with it
set, and the clock ignores it if it appears later. Tests also move it with ``time-machine``.
"""

from __future__ import annotations

import datetime as dt
import os

from django.conf import settings
from django.utils import timezone


class ClockError(ValueError):
    pass


def parse_pinned(value: str) -> dt.datetime:
    """Parse a ``PORTAL_NOW`` value; an instant without an offset is ambiguous and refused."""
    try:
        pinned = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ClockError(f"PORTAL_NOW={value!r} is not an ISO 8601 timestamp") from exc
    if pinned.tzinfo is None:
        raise ClockError(f"PORTAL_NOW={value!r} has no UTC offset (write e.g. +09:00)")
    return pinned.astimezone(dt.UTC)


def pinned_now() -> dt.datetime | None:
    """The pinned instant, or None when the clock runs freely (always, unless the settings allow
    a pinned clock)."""
    if not getattr(settings, "PORTAL_CLOCK_PINNABLE", False):
        return None
    value = os.environ.get("PORTAL_NOW", "").strip()
    return parse_pinned(value) if value else None


def now() -> dt.datetime:
    """The current instant (aware, UTC)."""
    return pinned_now() or timezone.now()
