"""The travellers' pages. They parse input and call the services; no rule is decided here."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from claims.site import hours
from claims.site.window import current_incident, window_state
from config import clock


def landing(request: HttpRequest) -> HttpResponse:
    incident = current_incident()
    if incident is None:
        raise Http404
    now = clock.now()
    return render(
        request,
        "site/landing.html",
        {
            "incident": incident,
            "window": window_state(incident, now),
            "call_center": hours.call_center_status(now),
        },
    )
