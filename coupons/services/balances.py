"""Coupon balances: the balance at instant T is the sum of the coupon's movements strictly before T.

``T`` is an aware instant; a movement at exactly T is *not* counted ("the balance at 00:00 on D" is
the balance after every movement strictly before D 00:00:00 JST, see DOMAIN.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q, Sum

from coupons.models import CouponMovement


def _require_aware(at: dt.datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("balance instants must be aware (a naive time has no meaning here)")


def coupon_balance_at(*, inquiry_number: str, at: dt.datetime) -> int:
    """Balance in yen of one coupon at ``at`` (0 for a coupon with no movements before it)."""
    _require_aware(at)
    total = CouponMovement.objects.filter(coupon_id=inquiry_number, occurred_at__lt=at).aggregate(
        total=Sum("amount_yen")
    )["total"]
    return int(total or 0)


def coupon_balances_at(*, at: dt.datetime, inquiry_numbers: Iterable[str] | None = None) -> dict[str, int]:
    """Balances of many coupons at ``at`` in one query: {inquiry_number: yen}.

    Coupons with no movement before ``at`` are absent (their balance is 0). With
    ``inquiry_numbers=None`` every coupon with a movement before ``at`` is included.
    """
    _require_aware(at)
    movements = CouponMovement.objects.filter(occurred_at__lt=at)
    if inquiry_numbers is not None:
        movements = movements.filter(coupon_id__in=list(inquiry_numbers))
    rows = movements.values_list("coupon_id").annotate(total=Sum("amount_yen")).order_by()
    return {inquiry_number: int(total) for inquiry_number, total in rows}


def coupon_balances_at_many(
    *, inquiry_number: str, instants: Iterable[dt.datetime]
) -> dict[dt.datetime, int]:
    """Balances of one coupon at several instants, in one query (the admin's cut-off table)."""
    instants = list(instants)
    for at in instants:
        _require_aware(at)
    aggregates = {
        f"at_{index}": Sum("amount_yen", filter=Q(occurred_at__lt=at)) for index, at in enumerate(instants)
    }
    if not aggregates:
        return {}
    row = CouponMovement.objects.filter(coupon_id=inquiry_number).aggregate(**aggregates)
    return {at: int(row[f"at_{index}"] or 0) for index, at in enumerate(instants)}
