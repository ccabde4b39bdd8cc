"""Fixtures of the importer's tests for large files (the direct and bulk paths)."""

from __future__ import annotations

import pytest

from coupons.services.importing import regionpay_import


@pytest.fixture
def platform(write_csv):
    """One store (S1) and 40 coupons CB0000000000…39 imported; returns write_csv for the rest."""
    stores = write_csv(
        "stores.csv", ["store_id", "store_name", "prefecture_code"], [["S1", "館山海鮮市場", "12"]]
    )
    coupons = write_csv(
        "coupons.csv",
        ["inquiry_number", "face_value_yen", "issued_at", "expires_on", "issuing_shop", "prefecture_code"],
        [
            [f"CB{n:010d}", 3000, "2023-02-23T10:00:00+09:00", "2023-02-24", "房総トラベル", "12"]
            for n in range(40)
        ],
    )
    assert regionpay_import(paths=[stores, coupons]).ok
    return write_csv
