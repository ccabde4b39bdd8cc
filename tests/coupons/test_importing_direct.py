"""The direct path: large files of new, valid movements are copied straight into the ledger; at the
first doubt the file goes through the staging path, which decides exactly as for a small file."""

from __future__ import annotations

import pytest

from coupons.models import Coupon, CouponMovement, LedgerChange, Store
from coupons.services.importing import direct, regionpay_import

pytestmark = pytest.mark.django_db(transaction=True)  # the direct path owns its transaction

MOVEMENT_HEADER = [
    "movement_id",
    "inquiry_number",
    "kind",
    "amount_yen",
    "occurred_at",
    "store_id",
    "request_id",
]


@pytest.fixture(autouse=True)
def every_file_is_large(monkeypatch):
    monkeypatch.setattr(direct, "DIRECT_MIN_BYTES", 0)


def _movements(n: int = 3) -> list[list[object]]:
    rows = []
    for i in range(n):
        rows.append([f"I{i}", f"CB{i:010d}", "issue", 3000, "2023-02-23T10:00:00+09:00", "", ""])
        rows.append([f"P{i}", f"CB{i:010d}", "payment", -500, "2023-02-24T18:03:12Z", "S1", f"RQ{i}"])
    return rows


def _counts() -> tuple[int, int, int]:
    return Store.objects.count(), Coupon.objects.count(), CouponMovement.objects.count()


def test_a_valid_file_of_new_movements_is_copied_directly_with_typed_values(platform) -> None:
    path = platform("movements.csv", MOVEMENT_HEADER, _movements())

    outcome = regionpay_import(paths=[path])

    assert outcome.ok
    (result,) = outcome.results
    assert result.method == "direct"
    assert (result.rows, result.inserted, result.unchanged, result.conflicts) == (6, 6, 0, 0)
    # a bulk load tells the engine to start over rather than listing every coupon
    assert list(LedgerChange.objects.values_list("scope", "key")) == [("all", "")]
    payment = CouponMovement.objects.get(movement_id="P1")
    assert payment.amount_yen == -500
    assert payment.occurred_at.isoformat() == "2023-02-24T18:03:12+00:00"
    assert payment.store_id == "S1"
    assert CouponMovement.objects.get(movement_id="I1").store_id is None
    assert CouponMovement.objects.get(movement_id="I1").request_id == ""


def test_reimporting_a_large_file_goes_through_staging_and_changes_nothing(platform) -> None:
    path = platform("movements.csv", MOVEMENT_HEADER, _movements())
    regionpay_import(paths=[path])
    before = _counts()

    outcome = regionpay_import(paths=[path])

    (result,) = outcome.results
    assert result.method == "staging"
    assert (result.inserted, result.unchanged) == (0, 6)
    assert _counts() == before
    assert LedgerChange.objects.count() == 1  # the first import's; nothing new to follow


@pytest.mark.parametrize(
    ("bad_row", "column"),
    [
        (["X1", "CB0000000001", "payment", -100, "2023-02-24T18:03:12", "S1", "R"], "occurred_at"),
        (["X1", "CB0000000001", "payment", -100, "2023-02-24", "S1", "R"], "occurred_at"),
        (["X1", "CB9999999999", "payment", -100, "2023-02-24T18:03:12+09:00", "S1", "R"], "inquiry_number"),
        (["X1", "CB0000000001", "payment", -100, "2023-02-24T18:03:12+09:00", "S404", "R"], "store_id"),
        (["X1", "CB0000000001", "payment", 100, "2023-02-24T18:03:12+09:00", "S1", "R"], "amount_yen"),
    ],
)
def test_a_bad_line_in_a_large_file_imports_nothing_and_is_named(platform, bad_row, column) -> None:
    rows = _movements()
    rows.insert(3, bad_row)  # file line 5 (header is line 1)
    path = platform("movements.csv", MOVEMENT_HEADER, rows)
    before = _counts()

    outcome = regionpay_import(paths=[path])

    assert not outcome.ok
    assert [(e.line, e.column) for e in outcome.errors] == [(5, column)]
    assert _counts() == before


def test_hyphenated_inquiry_numbers_in_a_large_file_are_normalised_through_staging(platform) -> None:
    rows = [["I1", "cb-0000-000001", "issue", 3000, "2023-02-23T10:00:00+09:00", "", ""]]
    path = platform("movements.csv", MOVEMENT_HEADER, rows)

    outcome = regionpay_import(paths=[path])

    assert outcome.results[0].method == "staging"
    assert CouponMovement.objects.get(movement_id="I1").coupon_id == "CB0000000001"


@pytest.mark.parametrize(
    ("cell", "stored"),
    [(" S1", "S1"), ("S1 ", "S1"), ('"S1"', "S1")],
)
def test_a_padded_or_quoted_field_sends_a_large_file_through_staging_which_reads_it(
    platform, cell, stored
) -> None:
    path = platform("movements.csv", MOVEMENT_HEADER, _movements())
    text = path.read_text(encoding="utf-8").replace(
        "-500,2023-02-24T18:03:12Z,S1,RQ1", f"-500,2023-02-24T18:03:12Z,{cell},RQ1"
    )
    path.write_text(text, encoding="utf-8")

    outcome = regionpay_import(paths=[path])

    assert outcome.ok
    assert (outcome.results[0].method, outcome.results[0].inserted) == ("staging", 6)
    assert CouponMovement.objects.get(movement_id="P1").store_id == stored
