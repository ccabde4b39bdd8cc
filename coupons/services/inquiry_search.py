"""Help for a person looking a coupon up by its inquiry number when nothing matches: the number read
with look-alike letters (O for 0, I or L for 1), or only its beginning. Used by the coupon list
and the call desk's intake page; each is one indexed query."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product

from coupons.inquiry import normalize_inquiry_number
from coupons.models import Coupon

# Letters read out or typed for the digits they look like (O for 0, I/L for 1, ...).
LOOKALIKES = {"O": "0", "I": "1", "L": "1"}


@dataclass
class Suggestions:
    lookalike: list[str] = field(default_factory=list)  # O typed for 0 and the like
    prefix: list[str] = field(default_factory=list)  # the beginning of a number
    note: str = ""


def suggest_inquiry_numbers(raw: str, *, limit: int = 10) -> Suggestions:
    """Help when nothing is found: a number read with look-alike letters, or only part of it."""
    number = normalize_inquiry_number(raw)
    result = Suggestions()
    if not number:
        return result
    if not re.fullmatch(r"[A-Z0-9]*", number):
        result.note = "お問合せ番号は英数字です（記号や漢字は使われていません）"
        return result
    # Each look-alike letter may be the digit or the letter: at most 2^10 variants, one query.
    positions = [i for i, ch in enumerate(number) if ch in LOOKALIKES][:10]
    variants = set()
    for choice in product((False, True), repeat=len(positions)):
        chars = list(number)
        for use_digit, i in zip(choice, positions, strict=True):
            if use_digit:
                chars[i] = LOOKALIKES[chars[i]]
        variants.add("".join(chars))
    variants.discard(number)
    if variants:
        result.lookalike = list(
            Coupon.objects.filter(inquiry_number__in=variants).values_list("inquiry_number", flat=True)[
                :limit
            ]
        )
    if len(number) >= 4:
        # A prefix is an index range scan ("C" collation key): part of a number read out.
        result.prefix = list(
            Coupon.objects.filter(inquiry_number__startswith=number)
            .exclude(inquiry_number=number)
            .order_by("inquiry_number")
            .values_list("inquiry_number", flat=True)[:limit]
        )
    elif not result.lookalike:
        result.note = "4文字以上入力すると、番号の始まりが同じクーポンを探します"
    return result
