"""The Content-Security-Policy of the portal (django-csp): one strict policy, two staff exceptions."""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

# Additions to the strict policy by path prefix. Scripts never come inline: the admin's come from
# static files, and the API docs' Swagger UI (the split view, from drf-spectacular-sidecar's static
# files) loads its start-up script by URL.
RELAXED: dict[str, dict[str, list[str]]] = {
    # The staff admin's templates carry inline style attributes.
    "/admin/": {"style-src": ["'unsafe-inline'"]},
    # Swagger UI for partners styles itself inline and draws its icons as data: URLs.
    "/api/docs/": {"style-src": ["'unsafe-inline'"], "img-src": ["data:"]},
}


class PortalCSPMiddleware(CSPMiddleware):
    """The strict policy (settings.CONTENT_SECURITY_POLICY) everywhere else, the travellers' site
    included; the additions above on the staff and partner pages that need them."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        relaxed = getattr(settings, "CSP_RELAXED", RELAXED)
        for prefix, additions in relaxed.items():
            if request.path_info.startswith(prefix):
                update = dict(parts.update or {})
                for directive, sources in additions.items():
                    update[directive] = [*update.get(directive, []), *sources]
                parts.update = update
        return parts
