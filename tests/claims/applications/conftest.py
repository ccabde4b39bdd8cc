"""Fixtures for the travellers' applications: a coupon the engine found in a group, the portal
clock inside the application window, the public API's limits reset, the outbox's messages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from claims.models import Application, Entitlement, Incident
from claims.services.transitions import entitlement_transition
from coupons.models import Coupon
from tests.factories import CouponFactory, jst

INSIDE_WINDOW = jst(2023, 3, 25, 10)


class PortalClock:
    """Moves the portal clock (``PORTAL_NOW``) only: the limits keep counting real seconds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> None:
        self._monkeypatch = monkeypatch
        self.now = start
        self.set(start)

    def set(self, instant: dt.datetime) -> None:
        self.now = instant
        self._monkeypatch.setenv("PORTAL_NOW", instant.isoformat())

    def move(self, **delta: float) -> None:
        self.set(self.now + dt.timedelta(**delta))


@pytest.fixture
def portal_clock(monkeypatch: pytest.MonkeyPatch) -> PortalClock:
    return PortalClock(monkeypatch, INSIDE_WINDOW)


@pytest.fixture(autouse=True)
def _limits_reset() -> Iterator[None]:
    """The API's rate-limit counters (django-ratelimit keys in this run's Redis database)."""

    def clear() -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match="*rl:*", count=1000))
        if keys:
            client.delete(*keys)

    clear()
    yield
    clear()


EntitledCoupon = Callable[..., Coupon]


@pytest.fixture
def entitled_coupon(incident: Incident) -> EntitledCoupon:
    """A coupon with entitlements: entitled_coupon(("1-1", "application", "extended"), amount_yen=2500)."""

    def make(*groups: tuple[str, str, str], amount_yen: int = 2500, **coupon: Any) -> Coupon:
        made = CouponFactory(**coupon)
        for category, route, status in groups:
            # The engine starts a decision as found (or extended, 1-1); later states are reached
            # through the one transition service, as the database's guard demands.
            start = status if status in {"found", "extended"} else "found"
            entitlement = Entitlement.objects.create(
                incident=incident,
                coupon=made,
                category=category,
                route=route,
                status=start,
                amount_yen=amount_yen,
                cutoff_at=incident.group_1_1_cutoff_at,
                valid_until=incident.extension_valid_until if status == "extended" else None,
                found_at=jst(2023, 2, 27, 1),
            )
            if status != start:
                entitlement_transition(entitlement_id=entitlement.pk, to=status, actor=None, note="test")
        return made

    return make


@pytest.fixture
def paper_coupon(entitled_coupon: EntitledCoupon) -> Coupon:
    """1-1 on the application route: the traveller must apply (outcome ``apply``)."""
    return entitled_coupon(("1-1", "application", "extended"), amount_yen=2500)


def application_body(coupon: Coupon, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inquiry_number": coupon.inquiry_number,
        "expires_on": coupon.expires_on.isoformat(),
        "name": "千葉 花子",
        "name_kana": "チバ ハナコ",
        "contact": {"phone": "090-1234-5678"},
        "prefecture_code": "12",
        "travel_date": "2023-02-23",
        "payout": {"method": "points"},
    }
    body.update(changes)
    return body


def sent_code(application: Application) -> str:
    """The code in the newest verification message of this application (from the outbox)."""
    from notifications.models import Message

    message = (
        Message.objects.filter(reference=str(application.public_id), template="verification_code")
        .order_by("-pk")
        .first()
    )
    assert message is not None, "no verification code was queued"
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, message.body
    return match[1]
