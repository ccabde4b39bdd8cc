"""Operator exports (regionpay-exchange.md): entitlements.csv and instructions.csv.

Rows are streamed from a server-side cursor, so a million entitlements never sit in memory.
Times are written in Japan time with their offset.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Protocol
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from claims.models import Entitlement, Incident, Instruction

JST = ZoneInfo("Asia/Tokyo")

ENTITLEMENT_COLUMNS = [
    "inquiry_number",
    "category",
    "route",
    "cutoff_at",
    "amount_yen",
    "valid_until",
    "status",
    "final_balance_yen",
    "needs_review",
    "evidence_movement_ids",
    "evidence_receipt_numbers",
]
INSTRUCTION_COLUMNS = [
    "instruction_id",
    "inquiry_number",
    "action",
    "valid_until",
    "amount_yen",
    "category",
    "decided_at",
]


def _time(value: dt.datetime | None) -> str:
    return value.astimezone(JST).isoformat(timespec="seconds") if value else ""


def _value(value: object) -> str:
    return "" if value is None else str(value)


def entitlement_rows(
    *, incident: Incident, queryset: QuerySet[Entitlement] | None = None
) -> Iterator[list[str]]:
    """Every entitlement of the incident, or those of ``queryset`` (a staff list's filters)."""
    base = Entitlement.objects.all() if queryset is None else queryset
    rows = (
        base.filter(incident=incident)
        .order_by("coupon_id", "category")
        .values_list(
            "coupon_id",
            "category",
            "route",
            "cutoff_at",
            "amount_yen",
            "valid_until",
            "status",
            "final_balance_yen",
            "needs_review",
            "evidence",
        )
    )
    for (
        inquiry,
        category,
        route,
        cutoff,
        amount,
        valid_until,
        status,
        final,
        review,
        evidence,
    ) in rows.iterator(chunk_size=5000):
        yield [
            inquiry,
            category,
            route,
            _time(cutoff),
            str(amount),
            _time(valid_until),
            status,
            _value(final),
            "1" if review else "0",
            " ".join(evidence.get("movement_ids", [])),
            " ".join(evidence.get("receipt_numbers", [])),
        ]


def instruction_rows(*, incident: Incident) -> Iterator[list[str]]:
    queryset = (
        Instruction.objects.filter(entitlement__incident=incident)
        .order_by("decided_at", "instruction_id")
        .values_list(
            "instruction_id",
            "entitlement__coupon_id",
            "action",
            "valid_until",
            "amount_yen",
            "entitlement__category",
            "decided_at",
        )
    )
    for instruction_id, inquiry, action, valid_until, amount, category, decided_at in queryset.iterator(
        chunk_size=5000
    ):
        yield [
            instruction_id,
            inquiry,
            action,
            _time(valid_until),
            _value(amount),
            category,
            _time(decided_at),
        ]


class _Writable(Protocol):
    def write(self, text: str, /) -> object: ...


def write_csv(out: _Writable, header: list[str], rows: Iterable[list[str]]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


class _Echo:
    def write(self, text: str) -> str:
        return text


def csv_lines(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """The CSV as lines, for a StreamingHttpResponse."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)
