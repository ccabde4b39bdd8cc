"""The Content-Security-Policy of the portal (django-csp), one policy with one staff exception."""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


class PortalCSPMiddleware(CSPMiddleware):
    """The strict policy everywhere; the staff admin's templates may use inline style attributes.

    Scripts stay 'self' for staff too: the admin's JavaScript comes from static files.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(tuple(settings.CSP_STAFF_PREFIXES)):
            update = dict(parts.update or {})
            update["style-src"] = ["'unsafe-inline'"]
            parts.update = update
        return parts
