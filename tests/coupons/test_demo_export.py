from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict

import pytest

from coupons.models import Coupon, CouponMovement
from coupons.services.demo_export import OUTAGE_END, OUTAGE_START, generate_regionpay_export
from coupons.services.importing import regionpay_import


def _rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_same_seed_writes_the_same_files_byte_for_byte(tmp_path) -> None:
    first = generate_regionpay_export(coupons=200, out=tmp_path / "a", seed=5)
    second = generate_regionpay_export(coupons=200, out=tmp_path / "b", seed=5)

    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in second.files]


def test_the_export_has_the_outage_cases_and_no_balance_ever_below_zero(tmp_path) -> None:
    stats = generate_regionpay_export(coupons=1500, out=tmp_path, seed=11)
    movements = _rows(tmp_path / "movements.csv")

    by_coupon = defaultdict(list)
    for row in movements:
        by_coupon[row["inquiry_number"]].append(row)
    for rows in by_coupon.values():
        balance = 0
        for row in sorted(rows, key=lambda r: dt.datetime.fromisoformat(r["occurred_at"])):
            balance += int(row["amount_yen"])
            assert balance >= 0
    in_outage = [
        r
        for r in movements
        if r["kind"] == "payment" and OUTAGE_START <= dt.datetime.fromisoformat(r["occurred_at"]) < OUTAGE_END
    ]
    assert stats.duplicate_cases > 0
    assert stats.cash_and_coupon_cases > 0
    assert in_outage
    assert {r["kind"] for r in movements} >= {"issue", "charge", "payment", "cancel"}
    coupons = _rows(tmp_path / "coupons.csv")
    assert any(c["app_account_id"] == "" for c in coupons)  # paper-only travellers
    assert any(c["app_withdrawn_at"] for c in coupons)  # closed app accounts


@pytest.mark.django_db
def test_the_export_imports_cleanly(tmp_path) -> None:
    stats = generate_regionpay_export(coupons=300, out=tmp_path, seed=3)

    outcome = regionpay_import(paths=stats.files)

    assert outcome.ok, outcome.errors
    assert Coupon.objects.count() == stats.coupons == 300
    assert CouponMovement.objects.count() == stats.movements
