from __future__ import annotations

from django.http import HttpRequest

from . import clock


def portal_clock(request: HttpRequest) -> dict[str, object]:
    """Tell every page whether the portal's clock is pinned (PORTAL_NOW), so it can show a banner."""
    return {"portal_now": clock.now(), "portal_clock_pinned": clock.pinned_now() is not None}
