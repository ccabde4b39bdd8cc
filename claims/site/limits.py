"""The site's limits: the API's own (public-api.md, Conventions), counted in the same cache groups,
so switching between the pages and the API does not double anyone's allowance."""

from __future__ import annotations

from django.http import HttpRequest
from django_ratelimit.core import get_usage

from claims.services import applications as rules

COUPON_CHECKS_PER_ADDRESS = "60/m"
GROUP_COUPON_CHECKS = "api.coupon-checks"
LOOKUPS_PER_ADDRESS = "30/h"
LOOKUP_FAILURES_PER_REFERENCE = "10/h"
GROUP_ADDRESS = "api.status-lookups"
GROUP_REFERENCE = "api.status-lookups.reference"


def _address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _reference_key(reference: str) -> str:
    return rules.normalize_reference(reference) or reference[:64]


def _wait(request: HttpRequest, *, group: str, value: str, rate: str, increment: bool) -> int | None:
    usage = get_usage(request, group=group, key=lambda _g, _r: value, rate=rate, increment=increment)
    if usage is None:
        return None
    over = usage["count"] > usage["limit"] if increment else usage["count"] >= usage["limit"]
    return max(1, int(usage["time_left"])) if over else None


def status_lookup_limited(request: HttpRequest, reference: str) -> int | None:
    """Seconds to wait, when this address or this reference number has used its allowance."""
    return _wait(
        request, group=GROUP_ADDRESS, value=_address(request), rate=LOOKUPS_PER_ADDRESS, increment=True
    ) or _wait(
        request,
        group=GROUP_REFERENCE,
        value=_reference_key(reference),
        rate=LOOKUP_FAILURES_PER_REFERENCE,
        increment=False,
    )


def status_lookup_failed(request: HttpRequest, reference: str) -> None:
    _wait(
        request,
        group=GROUP_REFERENCE,
        value=_reference_key(reference),
        rate=LOOKUP_FAILURES_PER_REFERENCE,
        increment=True,
    )


def coupon_check_limited(request: HttpRequest) -> int | None:
    """Seconds to wait, when this address has used its allowance of coupon checks (page or API)."""
    return _wait(
        request,
        group=GROUP_COUPON_CHECKS,
        value=_address(request),
        rate=COUPON_CHECKS_PER_ADDRESS,
        increment=True,
    )
