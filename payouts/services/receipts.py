"""The receipt site's one service (public-api.md §6, issue #10, 2): read a link by its token and
take the traveller's choice of brand. The page ``/r/<token>`` and ``/api/v1/receipts/{token}``
both call it, so they never disagree.

- An unknown, malformed or voided (resent) token is ``None``: the caller answers 404, the same
  for every such token.
- A choice is final: the same brand again is the same answer and no second order; another brand
  is refused (409); no choice after the receipt deadline (410). A choice made in time is honoured.
- The order is written ``queued`` with the choice and sent to the vendor by a worker once the
  choice commits (``payouts.tasks.order_place_task``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import partial

from django.db import transaction

from config import clock
from payouts.models import GiftOrder, Payout, ReceiptLink
from payouts.services.links import token_hash
from payouts.services.transitions import payout_transition

BRANDS = [b.value for b in Payout.Brand]
# token_urlsafe(32): 43 URL-safe characters. Anything else is not a token (no database lookup).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")


class ReceiptRefused(Exception):
    """A choice the contract refuses: ``code`` is ``invalid_brand``, ``other_brand`` or ``expired``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Receipt:
    amount_yen: int
    deadline: dt.date
    status: str  # open | chosen | expired
    choice: str | None
    order_status: str | None
    language: str

    def as_api(self) -> dict[str, object]:
        return {
            "amount_yen": self.amount_yen,
            "deadline": self.deadline.isoformat(),
            "status": self.status,
            "brands": BRANDS,
            "choice": self.choice,
        }

    def as_chosen(self) -> dict[str, object]:
        return {"status": "chosen", "choice": self.choice, "order": {"status": self.order_status}}


def _link(token: object) -> ReceiptLink | None:
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return None
    return (
        ReceiptLink.objects.select_related("payout", "payout__incident", "payout__application")
        .filter(token_hash=token_hash(token), voided_at__isnull=True)
        .first()
    )


def _receipt(link: ReceiptLink, now: dt.datetime) -> Receipt:
    payout = link.payout
    order = GiftOrder.objects.filter(payout=payout).only("status").first()
    if payout.brand:
        status = "chosen"
    elif now >= link.expires_at or payout.status == Payout.Status.EXPIRED:
        status = "expired"
    else:
        status = "open"
    language = payout.application.language if payout.application else "ja"
    return Receipt(
        amount_yen=payout.amount_yen,
        deadline=payout.incident.receipt_deadline,
        status=status,
        choice=payout.brand or None,
        order_status=order.status if order else None,
        language=language,
    )


def receipt_get(*, token: object) -> Receipt | None:
    """The link's state, or None for any token that is not a live link. The first read is noted
    (``opened_at``: the reminders' "link not opened" rung reads it)."""
    link = _link(token)
    if link is None:
        return None
    now = clock.now()
    if link.opened_at is None:
        ReceiptLink.objects.filter(pk=link.pk, opened_at__isnull=True).update(opened_at=now)
    return _receipt(link, now)


def _enqueue_order(payout_id: int) -> None:
    from payouts.tasks import order_place_task  # tasks import the services

    order_place_task.delay(payout_id)


def receipt_choose(*, token: object, brand: object) -> Receipt | None:
    """Take the choice (see the module's docstring). None for an unknown token; raises
    :class:`ReceiptRefused` for a refused choice, having changed nothing."""
    link = _link(token)
    if link is None:
        return None
    now = clock.now()
    with transaction.atomic():
        payout = Payout.objects.select_for_update(of=("self",)).get(pk=link.payout_id)
        if payout.brand:
            if brand != payout.brand:
                raise ReceiptRefused("other_brand")
            link.payout = payout
            return _receipt(link, now)
        if now >= link.expires_at or payout.status != Payout.Status.LINK_SENT:
            raise ReceiptRefused("expired")
        if brand not in BRANDS:
            raise ReceiptRefused("invalid_brand")
        payout = payout_transition(
            payout, Payout.Status.CHOSEN, note="受取サイトで選択", changes={"brand": brand}
        )
        GiftOrder.objects.create(
            payout=payout,
            brand=str(brand),
            amount_yen=payout.amount_yen,
            external_id=str(payout.pk),
            created_at=now,
            updated_at=now,
        )
        ReceiptLink.objects.filter(pk=link.pk, opened_at__isnull=True).update(opened_at=now)
        transaction.on_commit(partial(_enqueue_order, payout.pk), robust=True)
        link.payout = Payout.objects.select_related("incident", "application").get(pk=payout.pk)
    return _receipt(link, now)
