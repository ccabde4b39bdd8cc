"""The gift vendor: the interface the portal orders through, and its HTTP adapter.

The vendor turns a chosen brand and an amount into a gift (Amazon gift card, Ponta, PayPay, Edy,
nanaco) and delivers it to the traveller's contact. The contract assumed here (and served by the
sandbox, ``payouts.sandbox_vendor``):

- ``POST {GIFT_VENDOR_URL}/orders`` with ``Authorization: Bearer <key>`` and
  ``Idempotency-Key: <external id>``, body ``{"external_id", "brand", "amount_yen", "channel",
  "to"}``; a 2xx answer ``{"id": "<vendor order id>", "status": "accepted"}``. The external id is
  the payout's id: ordering one payout again is answered with the first order, never a second.
- The vendor calls ``/api/v1/vendor/webhooks`` back, signed (``payouts.signing``), for
  ``delivered`` and ``redeemed``.

Only named transient failures (timeouts, connection errors, 408/425/429/5xx) are retried, by the
ordering task with backoff; anything else is permanent and left for operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from config.http_json import post_json


class VendorError(Exception):
    pass


class TransientVendorError(VendorError):
    """Worth trying again with the same external id (the vendor keeps it)."""


class PermanentVendorError(VendorError):
    """The vendor refused the order; trying again would give the same answer."""


@dataclass(frozen=True)
class OrderRequest:
    external_id: str
    brand: str
    amount_yen: int
    channel: str
    to: str


@dataclass(frozen=True)
class VendorOrder:
    vendor_order_id: str
    status: str


class GiftVendor(Protocol):
    def place_order(self, order: OrderRequest) -> VendorOrder: ...


@dataclass(frozen=True)
class HttpGiftVendor:
    api_url: str
    api_key: str
    timeout: float

    @classmethod
    def from_settings(cls) -> HttpGiftVendor:
        if not settings.GIFT_VENDOR_URL:
            raise PermanentVendorError("GIFT_VENDOR_URL is not set: no gift vendor configured")
        return cls(
            api_url=settings.GIFT_VENDOR_URL.rstrip("/"),
            api_key=settings.GIFT_VENDOR_API_KEY,
            timeout=settings.GIFT_VENDOR_TIMEOUT,
        )

    def place_order(self, order: OrderRequest) -> VendorOrder:
        payload = {
            "external_id": order.external_id,
            "brand": order.brand,
            "amount_yen": order.amount_yen,
            "channel": order.channel,
            "to": order.to,
        }
        answer = post_json(
            f"{self.api_url}/orders",
            payload,
            api_key=self.api_key,
            idempotency_key=order.external_id,
            timeout=self.timeout,
            party="gift vendor",
            transient=TransientVendorError,
            permanent=PermanentVendorError,
        )
        vendor_id = str(answer["id"])
        return VendorOrder(vendor_order_id=vendor_id, status=str(answer.get("status", "accepted")))


def get_vendor() -> GiftVendor:
    return HttpGiftVendor.from_settings()
