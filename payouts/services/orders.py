"""Gift orders at the vendor: placed by a worker after the choice commits, advanced by webhooks.

Exactly one order per choice: the order row is one per payout (a unique key), and the vendor is
called with the payout's id as its idempotent external id, so a retry, a second worker or a
worker killed after the vendor answered all end in the vendor's one order. The vendor is called
outside any transaction (DESIGN.md habit 8); only transient failures are retried.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from config import clock
from payouts.gateway import GiftVendor, OrderRequest, PermanentVendorError, get_vendor
from payouts.models import GiftOrder, Payout
from payouts.services.transitions import payout_transition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderOutcome:
    status: str  # accepted | skipped (not queued any more) | failed


def order_place(*, payout_id: int, vendor: GiftVendor | None = None) -> OrderOutcome:
    """Send the queued order of ``payout_id`` to the vendor. Raises ``TransientVendorError`` for
    the caller (the task) to retry later; a permanent refusal marks the order ``failed``."""
    with transaction.atomic():
        order = GiftOrder.objects.select_for_update().filter(payout_id=payout_id).first()
        if order is None or order.status != GiftOrder.Status.QUEUED:
            return OrderOutcome("skipped")
        GiftOrder.objects.filter(pk=order.pk).update(attempts=F("attempts") + 1, touched_at=Now())
        payout = Payout.objects.only("contact_channel", "contact").get(pk=payout_id)
    request = OrderRequest(
        external_id=order.external_id,
        brand=order.brand,
        amount_yen=order.amount_yen,
        channel=payout.contact_channel,
        to=payout.contact,
    )
    try:
        answer = (vendor or get_vendor()).place_order(request)
    except PermanentVendorError as exc:
        with transaction.atomic():
            GiftOrder.objects.filter(pk=order.pk, status=GiftOrder.Status.QUEUED).update(
                status=GiftOrder.Status.FAILED, last_error=str(exc)[:500], updated_at=clock.now()
            )
        logger.warning("gift order %s refused by the vendor", order.external_id)
        return OrderOutcome("failed")
    order_accepted(external_id=order.external_id, vendor_order_id=answer.vendor_order_id)
    return OrderOutcome("accepted")


def order_accepted(*, external_id: str, vendor_order_id: str, now: dt.datetime | None = None) -> bool:
    """Record the vendor's acceptance once (the payout moves chosen → ordered). Idempotent."""
    now = now or clock.now()
    with transaction.atomic():
        order = GiftOrder.objects.select_for_update().filter(external_id=external_id).first()
        if order is None or order.status not in (GiftOrder.Status.QUEUED, GiftOrder.Status.FAILED):
            return False
        order.status = GiftOrder.Status.ACCEPTED
        order.vendor_order_id = vendor_order_id
        order.accepted_at = now
        order.updated_at = now
        order.save(update_fields=["status", "vendor_order_id", "accepted_at", "updated_at"])
        payout_transition(order.payout_id, Payout.Status.ORDERED, note=f"ベンダー受付 {vendor_order_id}")
    return True


def order_event(*, external_id: str, event: str, vendor_order_id: str) -> bool:
    """A signed webhook: ``delivered`` (the gift reached the traveller: payout → delivered) or
    ``redeemed`` (used). Idempotent; an event for an order not yet recorded as accepted records the
    acceptance first (the webhook can overtake the vendor's answer). False when unknown."""
    now = clock.now()
    if not GiftOrder.objects.filter(external_id=external_id).exists():
        return False
    order_accepted(external_id=external_id, vendor_order_id=vendor_order_id, now=now)
    with transaction.atomic():
        order = GiftOrder.objects.select_for_update().get(external_id=external_id)
        # A redemption implies the delivery (a missed "delivered" webhook is made up for).
        if event in ("delivered", "redeemed") and order.delivered_at is None:
            order.delivered_at = now
            if order.status == GiftOrder.Status.ACCEPTED:
                order.status = GiftOrder.Status.DELIVERED
            payout_transition(order.payout_id, Payout.Status.DELIVERED, note="ベンダー：送付済み")
        if event == "redeemed" and order.redeemed_at is None:
            order.redeemed_at = now
            order.status = GiftOrder.Status.REDEEMED
        order.updated_at = now
        order.save(update_fields=["status", "delivered_at", "redeemed_at", "updated_at"])
    return True


def orders_due(*, older_than_seconds: float = 120, limit: int = 1000) -> list[int]:
    """Queued orders whose task may have been lost (the broker, a worker killed): beat re-sends."""
    cutoff = Now() - dt.timedelta(seconds=older_than_seconds)
    return list(
        GiftOrder.objects.filter(status=GiftOrder.Status.QUEUED, touched_at__lt=cutoff)
        .order_by("pk")
        .values_list("payout_id", flat=True)[:limit]
    )
