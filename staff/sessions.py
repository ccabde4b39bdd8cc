"""Staff session rules: idle and absolute timeouts, and no staff identity without a second factor.

The timers use the wall clock (``time.time()``), not the portal's business clock
(``config.clock.now()``): that one can be pinned to a past day for a demo or a replay, and a pinned
clock would never let a session age.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

LOGIN_AT = "staff_login_at"
SEEN_AT = "staff_seen_at"
EXPIRED_FLAG = "staff_session_expired"
# The last-seen time is written at most once a minute, so an ordinary page view does not save the
# session on every request; the idle limit is therefore exact to within that minute.
_SEEN_RESOLUTION = 60


def is_verified(user: object) -> bool:
    check = getattr(user, "is_verified", None)
    return bool(check and check())


class StaffSessionMiddleware:
    """After django-otp's ``OTPMiddleware``.

    1. A session older than ``STAFF_SESSION_ABSOLUTE_SECONDS`` or idle longer than
       ``STAFF_SESSION_IDLE_SECONDS`` is ended (the login page then says why).
    2. A user who gave a password but no second factor yet is *not* signed in for any view: the
       request carries an anonymous user, so every staff page — admin, plain views with
       ``login_required``, the API's session authentication — treats them as a visitor. Only the
       second-factor step reads ``request.staff_pending_user``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.staff_pending_user = None  # type: ignore[attr-defined]
        user = request.user
        if user.is_authenticated:
            now = time.time()
            session = request.session
            login_at = session.setdefault(LOGIN_AT, now)
            seen_at = session.get(SEEN_AT, login_at)
            if (
                now - login_at > settings.STAFF_SESSION_ABSOLUTE_SECONDS
                or now - seen_at > settings.STAFF_SESSION_IDLE_SECONDS
            ):
                logout(request)
                request.session[EXPIRED_FLAG] = True
            else:
                if now - seen_at >= _SEEN_RESOLUTION:
                    session[SEEN_AT] = now
                if not is_verified(user):
                    request.staff_pending_user = user  # type: ignore[attr-defined]
                    request.user = AnonymousUser()
        return self.get_response(request)
