"""Edge cases of the file contract found in review."""

from __future__ import annotations

import pytest

from coupons.models import Coupon, Store, StoreSale
from coupons.services.importing import regionpay_import

pytestmark = pytest.mark.django_db

STORE_HEADER = ["store_id", "store_name", "prefecture_code"]


def test_a_line_holding_only_the_copy_end_marker_refuses_the_file(write_csv, tmp_path) -> None:
    # PostgreSQL's COPY would take "\." as the end of the data and drop every line after it
    path = tmp_path / "stores.csv"
    path.write_text("store_id,store_name,prefecture_code\nS1,館山,12\n\\.\nS2,鴨川,12\nS3,勝浦,999\n")

    outcome = regionpay_import(paths=[path])

    assert not outcome.ok
    assert [(e.line, e.column) for e in outcome.errors] == [(3, "")]
    assert not Store.objects.exists()


def test_the_end_marker_on_the_last_line_without_newline_is_refused_too(tmp_path) -> None:
    path = tmp_path / "stores.csv"
    path.write_text("store_id,store_name,prefecture_code\nS1,館山,12\n\\.")

    outcome = regionpay_import(paths=[path])

    assert not outcome.ok
    assert outcome.errors[0].line == 3
    assert not Store.objects.exists()


def test_a_quoted_backslash_dot_is_ordinary_data(write_csv) -> None:
    path = write_csv("stores.csv", [*STORE_HEADER, "address"], [["S1", "館山", "12", "\\."]])

    outcome = regionpay_import(paths=[path])

    assert outcome.ok
    assert Store.objects.get().address == "\\."


def test_an_over_long_email_is_named_by_line_and_column(write_csv) -> None:
    header = [
        "inquiry_number",
        "face_value_yen",
        "issued_at",
        "expires_on",
        "issuing_shop",
        "prefecture_code",
        "app_email",
    ]
    email = "a" * 250 + "@example.jp"
    path = write_csv(
        "coupons.csv",
        header,
        [["CB1", 3000, "2023-02-23T10:00:00+09:00", "2023-02-24", "房総トラベル", "12", email]],
    )

    outcome = regionpay_import(paths=[path])

    assert [(e.line, e.column) for e in outcome.errors] == [(2, "app_email")]
    assert not Coupon.objects.exists()


def test_an_extra_column_named_like_another_kinds_column_is_ignored(write_csv) -> None:
    stores = write_csv("stores.csv", [*STORE_HEADER, "expires_on"], [["S1", "館山", "12", "2023-02-24"]])
    sales = write_csv(
        "store_sales.csv",
        ["store_id", "receipt_number", "occurred_at", "amount_yen", "tender", "movement_id"],
        [["S1", "R1", "2023-02-24T18:00:00+09:00", 1000, "cash", "M1"]],
    )

    outcome = regionpay_import(paths=[sales, stores])

    assert outcome.ok, outcome.errors
    assert [r.kind for r in outcome.results] == ["stores", "store_sales"]
    assert StoreSale.objects.get().receipt_number == "R1"


def test_every_row_of_the_wrong_shape_is_named_not_only_the_first(tmp_path) -> None:
    # Given a stores file whose lines 3 and 5 have the wrong number of fields
    path = tmp_path / "stores.csv"
    path.write_text(
        "store_id,store_name,prefecture_code\nS1,館山,12\nS2,鴨川,12,余分\nS3,千葉,12\nS4,銚子\n",
        encoding="utf-8",
    )

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then both rows are named, and nothing of the file went in
    assert not outcome.ok
    assert [(e.line, e.message.split("（")[0]) for e in outcome.errors] == [
        (3, "列の数が見出しより多い行です"),
        (5, "列の数が見出しより少ない行です"),
    ]
    assert outcome.bad_rows == 2
    assert not Store.objects.exists()
