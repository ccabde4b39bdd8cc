"""The region PAY importer (coupons.services.importing) against the exchange contract.

Contract: ../shared/interfaces/regionpay-exchange.md. Every test runs against real PostgreSQL; the
importer's per-file transactions are savepoints inside the test's transaction.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from coupons.models import Coupon, CouponMovement, LedgerChange, Store, StoreSale
from coupons.services.importing import MAX_REPORTED_ERRORS, regionpay_import
from tests.factories import jst

pytestmark = pytest.mark.django_db

UTC = dt.UTC

STORES_HEADER = ["store_id", "store_name", "prefecture_code", "address"]
COUPONS_HEADER = [
    "inquiry_number",
    "face_value_yen",
    "issued_at",
    "expires_on",
    "issuing_shop",
    "prefecture_code",
    "app_account_id",
    "app_phone",
    "app_email",
    "app_withdrawn_at",
]
MOVEMENTS_HEADER = [
    "movement_id",
    "inquiry_number",
    "kind",
    "amount_yen",
    "occurred_at",
    "store_id",
    "request_id",
    "app_account_id",
]
STORE_SALES_HEADER = ["store_id", "receipt_number", "occurred_at", "amount_yen", "tender", "inquiry_number"]

STORE_ROWS = [
    ["S001", "館山海鮮市場", "12", "千葉県館山市北条1-1"],
    ["S002", "鴨川シーフード", "12", ""],
]
COUPON_ROWS = [
    [
        "CB00000001",
        "3000",
        "2023-02-23T10:00:00+09:00",
        "2023-02-24",
        "房総トラベル 千葉支店",
        "12",
        "APP-1",
        "090-1234-5678",
        "taro@example.jp",
        "",
    ],
    ["CB00000002", "5000", "2023-02-23T01:00:00Z", "2023-02-25", "ホテル鴨川", "12", "", "", "", ""],
    [
        "CB00000003",
        "2000",
        "2023-02-24T08:30:00+09:00",
        "2023-02-24",
        "ホテル鴨川",
        "12",
        "APP-3",
        "+819087654321",
        "",
        "2023-03-01T12:00:00+09:00",
    ],
]
MOVEMENT_ROWS = [
    ["M001", "CB00000001", "issue", "3000", "2023-02-23T10:00:00+09:00", "", "", ""],
    ["M002", "CB00000001", "charge", "0", "2023-02-23T10:05:00+09:00", "", "", "APP-1"],
    ["M003", "CB00000001", "payment", "-1000", "2023-02-24T18:03:12+09:00", "S001", "RQ-1", ""],
    ["M004", "CB00000001", "cancel", "1000", "2023-02-24T09:10:00Z", "S001", "RQ-1", ""],
    ["M005", "CB00000002", "issue", "5000", "2023-02-23T01:00:00.250000Z", "", "", ""],
    ["M006", "CB00000002", "adjustment", "-5", "2023-02-25T23:59:59+09:00", "", "", ""],
]
STORE_SALE_ROWS = [
    ["S001", "R-0001", "2023-02-24T18:03:00+09:00", "1000", "cash", ""],
    ["S001", "R-0002", "2023-02-24T09:20:00Z", "800", "coupon", "CB00000001"],
]


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Store, Coupon, CouponMovement, StoreSale)}


def movement(**overrides: str) -> list[str]:
    """A valid movements.csv row for coupon CB00000001, with ``overrides`` by column name."""
    values = {
        "movement_id": "M900",
        "inquiry_number": "CB00000001",
        "kind": "adjustment",
        "amount_yen": "10",
        "occurred_at": "2023-02-24T12:00:00+09:00",
        "store_id": "",
        "request_id": "",
        "app_account_id": "",
        **overrides,
    }
    return [values[column] for column in MOVEMENTS_HEADER]


def raw_phone(inquiry_number: str) -> str:
    """The app_phone text exactly as stored (the model field would parse and re-format it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_phone FROM coupons_coupon WHERE inquiry_number = %s", [inquiry_number])
        return cursor.fetchone()[0]


@pytest.fixture
def platform_files(write_csv) -> dict[str, Path]:
    """One small valid file of each kind."""
    return {
        "stores": write_csv("stores.csv", STORES_HEADER, STORE_ROWS),
        "coupons": write_csv("coupons.csv", COUPONS_HEADER, COUPON_ROWS),
        "movements": write_csv("movements.csv", MOVEMENTS_HEADER, MOVEMENT_ROWS),
        "store_sales": write_csv("store_sales.csv", STORE_SALES_HEADER, STORE_SALE_ROWS),
    }


@pytest.fixture
def imported(platform_files) -> dict[str, Path]:
    """The valid files, already imported."""
    outcome = regionpay_import(paths=list(platform_files.values()))
    assert outcome.ok, outcome.errors
    return platform_files


# --- 1. a valid set ------------------------------------------------------------------------------


def test_importing_a_valid_set_inserts_every_row_and_reports_it_inserted(platform_files) -> None:
    # Given one valid file of each kind and an empty database
    assert table_counts() == {"Store": 0, "Coupon": 0, "CouponMovement": 0, "StoreSale": 0}

    # When they are imported
    outcome = regionpay_import(paths=list(platform_files.values()))

    # Then every row is inserted, and each file says so
    assert outcome.ok
    assert outcome.errors == []
    assert outcome.skipped == []
    assert table_counts() == {"Store": 2, "Coupon": 3, "CouponMovement": 6, "StoreSale": 2}
    summary = [(r.file, r.kind, r.rows, r.inserted, r.unchanged, r.conflicts) for r in outcome.results]
    assert summary == [
        ("stores.csv", "stores", 2, 2, 0, 0),
        ("coupons.csv", "coupons", 3, 3, 0, 0),
        ("movements.csv", "movements", 6, 6, 0, 0),
        ("store_sales.csv", "store_sales", 2, 2, 0, 0),
    ]


def test_importing_stores_keeps_names_as_written_and_an_empty_address_as_empty_text(platform_files) -> None:
    # Given valid files, one store without an address
    # When they are imported
    regionpay_import(paths=list(platform_files.values()))

    # Then names and codes are stored as written, the missing address as ''
    first, second = Store.objects.order_by("store_id")
    assert (first.store_id, first.store_name, first.prefecture_code, first.address) == (
        "S001",
        "館山海鮮市場",
        "12",
        "千葉県館山市北条1-1",
    )
    assert (second.store_id, second.store_name, second.address) == ("S002", "鴨川シーフード", "")


def test_importing_a_valid_set_types_coupon_values(platform_files) -> None:
    # Given valid files
    # When they are imported
    regionpay_import(paths=list(platform_files.values()))

    # Then coupon timestamps are the right UTC instants, dates are dates, amounts are ints,
    # national phone numbers are E.164 and empty optional columns are '' or NULL
    app_user = Coupon.objects.get(inquiry_number="CB00000001")
    assert app_user.face_value_yen == 3000
    assert isinstance(app_user.face_value_yen, int)
    assert app_user.issued_at == dt.datetime(2023, 2, 23, 1, 0, tzinfo=UTC)
    assert app_user.expires_on == dt.date(2023, 2, 24)
    assert app_user.issuing_shop == "房総トラベル 千葉支店"
    assert app_user.prefecture_code == "12"
    assert app_user.app_account_id == "APP-1"
    assert raw_phone("CB00000001") == "+819012345678"
    assert app_user.app_phone.is_valid()
    assert app_user.app_email == "taro@example.jp"
    assert app_user.app_withdrawn_at is None

    paper_only = Coupon.objects.get(inquiry_number="CB00000002")
    assert paper_only.issued_at == dt.datetime(2023, 2, 23, 1, 0, tzinfo=UTC)
    assert (paper_only.app_account_id, raw_phone("CB00000002"), paper_only.app_email) == ("", "", "")
    assert paper_only.app_withdrawn_at is None

    withdrawn = Coupon.objects.get(inquiry_number="CB00000003")
    assert raw_phone("CB00000003") == "+819087654321"
    assert withdrawn.app_withdrawn_at == dt.datetime(2023, 3, 1, 3, 0, tzinfo=UTC)


def test_importing_a_valid_set_types_movement_values(platform_files) -> None:
    # Given valid files
    # When they are imported
    regionpay_import(paths=list(platform_files.values()))

    # Then +09:00 and Z timestamps are the right instants, amounts are signed ints, and empty
    # store / request / account columns are NULL / '' / ''
    stored = {
        m.movement_id: (
            m.coupon_id,
            m.kind,
            m.amount_yen,
            m.occurred_at,
            m.store_id,
            m.request_id,
            m.app_account_id,
        )
        for m in CouponMovement.objects.all()
    }
    assert stored == {
        "M001": ("CB00000001", "issue", 3000, dt.datetime(2023, 2, 23, 1, 0, tzinfo=UTC), None, "", ""),
        "M002": ("CB00000001", "charge", 0, dt.datetime(2023, 2, 23, 1, 5, tzinfo=UTC), None, "", "APP-1"),
        "M003": (
            "CB00000001",
            "payment",
            -1000,
            dt.datetime(2023, 2, 24, 9, 3, 12, tzinfo=UTC),
            "S001",
            "RQ-1",
            "",
        ),
        "M004": (
            "CB00000001",
            "cancel",
            1000,
            dt.datetime(2023, 2, 24, 9, 10, tzinfo=UTC),
            "S001",
            "RQ-1",
            "",
        ),
        "M005": (
            "CB00000002",
            "issue",
            5000,
            dt.datetime(2023, 2, 23, 1, 0, 0, 250000, tzinfo=UTC),
            None,
            "",
            "",
        ),
        "M006": (
            "CB00000002",
            "adjustment",
            -5,
            dt.datetime(2023, 2, 25, 14, 59, 59, tzinfo=UTC),
            None,
            "",
            "",
        ),
    }
    assert all(isinstance(values[2], int) for values in stored.values())


def test_importing_a_valid_set_types_store_sale_values(platform_files) -> None:
    # Given valid files
    # When they are imported
    regionpay_import(paths=list(platform_files.values()))

    # Then store sales carry their instant, amount, tender and (optional) inquiry number
    stored = {
        s.receipt_number: (s.store_id, s.occurred_at, s.amount_yen, s.tender, s.inquiry_number)
        for s in StoreSale.objects.all()
    }
    assert stored == {
        "R-0001": ("S001", dt.datetime(2023, 2, 24, 9, 3, tzinfo=UTC), 1000, "cash", ""),
        "R-0002": ("S001", dt.datetime(2023, 2, 24, 9, 20, tzinfo=UTC), 800, "coupon", "CB00000001"),
    }


def test_a_file_with_only_a_header_imports_zero_rows(write_csv) -> None:
    # Given a stores file with a header and no records
    path = write_csv("stores.csv", STORES_HEADER, [])

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it succeeds with nothing inserted
    assert outcome.ok
    assert [(r.rows, r.inserted) for r in outcome.results] == [(0, 0)]
    assert Store.objects.count() == 0


def test_files_with_crlf_line_endings_import(write_csv) -> None:
    # Given stores and coupons files written with Windows line endings
    stores = write_csv("stores.csv", STORES_HEADER, STORE_ROWS, line_terminator="\r\n")
    coupons = write_csv("coupons.csv", COUPONS_HEADER, COUPON_ROWS, line_terminator="\r\n")

    # When they are imported
    outcome = regionpay_import(paths=[stores, coupons])

    # Then every row goes in, with no stray carriage return in the last column
    assert outcome.ok, outcome.errors
    assert table_counts()["Store"] == 2
    assert table_counts()["Coupon"] == 3
    assert Store.objects.get(store_id="S001").address == "千葉県館山市北条1-1"
    assert Coupon.objects.get(inquiry_number="CB00000003").app_withdrawn_at == dt.datetime(
        2023, 3, 1, 3, 0, tzinfo=UTC
    )


# --- 2. re-import and overlap --------------------------------------------------------------------
def _last_change() -> int:
    return LedgerChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _changes_since(last: int) -> list[tuple]:
    return list(
        LedgerChange.objects.filter(id__gt=last)
        .values_list("scope", "key", "first_at", "last_at")
        .order_by("key")
    )


def test_reimporting_the_same_files_changes_no_count(imported) -> None:
    # Given the valid files already imported
    before = table_counts()
    before_changes = _last_change()

    # When the same files are imported again
    outcome = regionpay_import(paths=list(imported.values()))

    # Then nothing is added, and every row is reported unchanged
    assert outcome.ok
    assert table_counts() == before
    assert _changes_since(before_changes) == []  # nothing for the engine to re-decide
    assert [(r.kind, r.rows, r.inserted, r.unchanged, r.conflicts) for r in outcome.results] == [
        ("stores", 2, 0, 2, 0),
        ("coupons", 3, 0, 3, 0),
        ("movements", 6, 0, 6, 0),
        ("store_sales", 2, 0, 2, 0),
    ]
    assert all(r.conflict_examples == [] for r in outcome.results)


def test_an_overlapping_movements_file_inserts_only_the_new_rows(imported, write_csv) -> None:
    # Given the valid files imported, and a movements file with 3 old rows and 3 new ones
    before = table_counts()
    before_changes = _last_change()
    new_rows = [
        ["M101", "CB00000003", "issue", "2000", "2023-02-24T08:30:00+09:00", "", "", ""],
        ["M102", "CB00000003", "payment", "-700", "2023-02-24T19:00:00+09:00", "S002", "RQ-9", ""],
        ["M103", "CB00000002", "payment", "-300", "2023-02-25T10:00:00+09:00", "S001", "RQ-10", ""],
    ]
    overlap = write_csv("movements-overlap.csv", MOVEMENTS_HEADER, [*MOVEMENT_ROWS[3:], *new_rows])

    # When it is imported
    outcome = regionpay_import(paths=[overlap])

    # Then only the 3 new rows go in; the old ones are unchanged
    assert outcome.ok
    [result] = outcome.results
    assert (result.rows, result.inserted, result.unchanged, result.conflicts) == (6, 3, 3, 0)
    assert table_counts() == {**before, "CouponMovement": before["CouponMovement"] + 3}
    assert CouponMovement.objects.filter(movement_id__in=["M101", "M102", "M103"]).count() == 3
    # and the change log names the two coupons of the new rows, for the engine's next run
    assert sorted(_changes_since(before_changes)) == [
        ("coupon", "CB00000002", jst(2023, 2, 25, 10), jst(2023, 2, 25, 10)),
        ("coupon", "CB00000003", jst(2023, 2, 24, 8, 30), jst(2023, 2, 24, 19)),
    ]


def test_an_overlapping_store_sales_file_inserts_only_the_new_receipts(imported, write_csv) -> None:
    # Given the valid files imported, and a store-sales file repeating one receipt and adding one
    before = table_counts()
    before_changes = _last_change()
    overlap = write_csv(
        "store_sales-2.csv",
        STORE_SALES_HEADER,
        [STORE_SALE_ROWS[1], ["S002", "R-0001", "2023-02-24T19:00:00+09:00", "700", "card", ""]],
    )

    # When it is imported
    outcome = regionpay_import(paths=[overlap])

    # Then the same receipt number at another store is new; the repeated one is unchanged
    assert outcome.ok
    [result] = outcome.results
    assert (result.rows, result.inserted, result.unchanged, result.conflicts) == (2, 1, 1, 0)
    assert table_counts() == {**before, "StoreSale": before["StoreSale"] + 1}
    # and the change log names the store of the new receipt, with the time it covers
    assert _changes_since(before_changes) == [("store", "S002", jst(2023, 2, 24, 19), jst(2023, 2, 24, 19))]


def test_a_row_differing_only_in_surrounding_spaces_and_offset_is_unchanged(imported, write_csv) -> None:
    # Given the valid files imported, and the first movement written again with padded cells and
    # the same instant expressed in UTC
    before = table_counts()
    again = write_csv(
        "movements-again.csv",
        MOVEMENTS_HEADER,
        [[" M001 ", " CB00000001", "issue ", " 3000", "2023-02-23T01:00:00Z", "", "", ""]],
    )

    # When it is imported
    outcome = regionpay_import(paths=[again])

    # Then it is recognised as the same record
    assert outcome.ok
    [result] = outcome.results
    assert (result.inserted, result.unchanged, result.conflicts) == (0, 1, 0)
    assert table_counts() == before


# --- 3. conflicts --------------------------------------------------------------------------------

CONFLICTS = [
    pytest.param(
        "stores.csv",
        STORES_HEADER,
        [STORE_ROWS[0], ["S002", "鴨川シーフード（新）", "12", ""]],
        lambda: Store.objects.get(store_id="S002").store_name,
        "鴨川シーフード",
        "store_id",
        id="store-renamed",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[0], ["CB00000002", "9000", *COUPON_ROWS[1][2:]]],
        lambda: Coupon.objects.get(inquiry_number="CB00000002").face_value_yen,
        5000,
        "inquiry_number",
        id="coupon-face-value",
    ),
    pytest.param(
        "movements.csv",
        MOVEMENTS_HEADER,
        [MOVEMENT_ROWS[0], ["M003", "CB00000001", "payment", "-2000", *MOVEMENT_ROWS[2][4:]]],
        lambda: CouponMovement.objects.get(movement_id="M003").amount_yen,
        -1000,
        "movement_id",
        id="movement-amount",
    ),
    pytest.param(
        "movements.csv",
        MOVEMENTS_HEADER,
        [MOVEMENT_ROWS[0], [*MOVEMENT_ROWS[2][:4], "2023-02-24T18:03:13+09:00", *MOVEMENT_ROWS[2][5:]]],
        lambda: CouponMovement.objects.get(movement_id="M003").occurred_at,
        dt.datetime(2023, 2, 24, 9, 3, 12, tzinfo=UTC),
        "movement_id",
        id="movement-time",
    ),
    pytest.param(
        "store_sales.csv",
        STORE_SALES_HEADER,
        [STORE_SALE_ROWS[0], ["S001", "R-0002", "2023-02-24T09:20:00Z", "800", "cash", ""]],
        lambda: StoreSale.objects.get(store_id="S001", receipt_number="R-0002").tender,
        "coupon",
        "store_id,receipt_number",
        id="store-sale-tender",
    ),
]


@pytest.mark.parametrize(("name", "header", "rows", "read_back", "stored", "key"), CONFLICTS)
def test_a_known_key_with_different_content_is_a_conflict_and_is_not_overwritten(
    imported, write_csv, name, header, rows, read_back, stored, key
) -> None:
    # Given the valid files imported, and a file whose line 2 repeats a record unchanged and whose
    # line 3 repeats a key with different content
    before = table_counts()
    path = write_csv(name, header, rows)

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then the file is accepted, line 3 is reported as a conflict, and the stored value stands
    assert outcome.ok
    [result] = outcome.results
    assert (result.rows, result.inserted, result.unchanged, result.conflicts) == (2, 0, 1, 1)
    assert [(e.file, e.line, e.column) for e in result.conflict_examples] == [(name, 3, key)]
    assert read_back() == stored
    assert table_counts() == before


def test_a_key_repeated_within_one_new_file_with_other_content_keeps_the_first(write_csv) -> None:
    # Given a stores file that names S001 twice, differently
    path = write_csv(
        "stores.csv", STORES_HEADER, [["S001", "館山海鮮市場", "12", ""], ["S001", "館山別店", "12", ""]]
    )

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then the first is stored and the second is a conflict on line 3
    assert outcome.ok
    [result] = outcome.results
    assert (result.rows, result.inserted, result.unchanged, result.conflicts) == (2, 1, 0, 1)
    assert [e.line for e in result.conflict_examples] == [3]
    assert Store.objects.get().store_name == "館山海鮮市場"


# --- 4. a bad row refuses the whole file -----------------------------------------------------------


def _bad_movements(row: list[str]) -> Callable:
    def build(write_csv, tmp_path):
        good_before = movement(movement_id="M801")
        good_after = movement(movement_id="M803")
        return write_csv("movements.csv", MOVEMENTS_HEADER, [good_before, row, good_after])

    return build


def _header_without_kind(write_csv, tmp_path):
    header = [c for c in MOVEMENTS_HEADER if c != "kind"]
    rows = [
        [v for c, v in zip(MOVEMENTS_HEADER, movement(movement_id=m), strict=True) if c != "kind"]
        for m in "AB"
    ]
    return write_csv("movements.csv", header, rows)


def _too_many_columns(write_csv, tmp_path):
    return write_csv(
        "movements.csv",
        MOVEMENTS_HEADER,
        [
            movement(movement_id="M801"),
            [*movement(movement_id="M802"), "extra"],
            movement(movement_id="M803"),
        ],
    )


def _invalid_utf8(write_csv, tmp_path):
    path = write_csv(
        "movements.csv",
        MOVEMENTS_HEADER,
        [movement(movement_id="M801"), movement(movement_id="M802", request_id="XXBADXX")],
    )
    path.write_bytes(path.read_bytes().replace(b"XXBADXX", b"\x82\xa0\xff"))
    return path


BAD_MOVEMENT_FILES = [
    pytest.param(
        _bad_movements(movement(movement_id="M802", occurred_at="2023-02-24T18:03:12")),
        [(3, "occurred_at")],
        id="timestamp-without-offset",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", occurred_at="2023-02-24 18:03")),
        [(3, "occurred_at")],
        id="timestamp-without-offset-short",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", occurred_at="2023-02-30T10:00:00+09:00")),
        [(3, "occurred_at")],
        id="impossible-date",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", occurred_at="2023-02-24T24:30:00+09:00")),
        [(3, "occurred_at")],
        id="impossible-hour",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", occurred_at="")),
        [(3, "occurred_at")],
        id="missing-timestamp",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", kind="refund")), [(3, "kind")], id="unknown-kind"
    ),
    pytest.param(_bad_movements(movement(movement_id="M802", kind="")), [(3, "kind")], id="missing-kind"),
    pytest.param(
        _bad_movements(movement(movement_id="M802", amount_yen="1.5")), [(3, "amount_yen")], id="amount-1.5"
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", amount_yen="1,000")),
        [(3, "amount_yen")],
        id="amount-1,000",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", amount_yen="abc")), [(3, "amount_yen")], id="amount-abc"
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", kind="payment", amount_yen="500", store_id="S001")),
        [(3, "amount_yen")],
        id="payment-with-positive-amount",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", kind="charge", amount_yen="100")),
        [(3, "amount_yen")],
        id="charge-with-non-zero-amount",
    ),
    pytest.param(
        _bad_movements(
            movement(movement_id="M802", kind="cancel", amount_yen="-100", store_id="S001", request_id="RQ-1")
        ),
        [(3, "amount_yen")],
        id="cancel-with-negative-amount",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", inquiry_number="CB99999999")),
        [(3, "inquiry_number")],
        id="unknown-coupon",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", inquiry_number="CB#0001")),
        [(3, "inquiry_number")],
        id="malformed-inquiry-number",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", kind="payment", amount_yen="-500", store_id="S999")),
        [(3, "store_id")],
        id="payment-at-unknown-store",
    ),
    pytest.param(
        _bad_movements(movement(movement_id="M802", kind="payment", amount_yen="-500", store_id="")),
        [(3, "store_id")],
        id="payment-without-store",
    ),
    pytest.param(_header_without_kind, [(1, "kind")], id="header-missing-required-column"),
    pytest.param(_too_many_columns, [(3, "")], id="row-with-too-many-columns"),
    pytest.param(_invalid_utf8, [(3, "")], id="invalid-utf-8-bytes"),
]


@pytest.mark.parametrize(("build", "expected"), BAD_MOVEMENT_FILES)
def test_a_movements_file_with_one_bad_row_imports_nothing_and_names_line_and_column(
    imported, write_csv, tmp_path, build, expected
) -> None:
    # Given stores and coupons imported, and a movements file whose line 3 (or header) is bad
    # between two good lines
    before = table_counts()
    path = build(write_csv, tmp_path)

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then the file is refused, the error names the file, line and column, and nothing changed
    assert not outcome.ok
    assert outcome.failed_file == "movements.csv"
    assert outcome.results == []
    assert [(e.file, e.line, e.column) for e in outcome.errors] == [("movements.csv", *x) for x in expected]
    assert all(e.message for e in outcome.errors)
    assert outcome.bad_rows == 1
    assert table_counts() == before
    assert not CouponMovement.objects.filter(movement_id__in=["M801", "M802", "M803"]).exists()


BAD_OTHER_FILES = [
    pytest.param(
        "stores.csv",
        STORES_HEADER,
        [["S101", "白浜", "12", ""], ["S102", "勝浦", "48", ""]],
        "prefecture_code",
        id="store-prefecture-48",
    ),
    pytest.param(
        "stores.csv",
        STORES_HEADER,
        [["S101", "白浜", "12", ""], ["S102", "", "12", ""]],
        "store_name",
        id="store-without-name",
    ),
    pytest.param(
        "stores.csv",
        STORES_HEADER,
        [["S101", "白浜", "12", ""], ["S" * 65, "勝浦", "12", ""]],
        "store_id",
        id="store-id-too-long",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["CB00000009", "3000", *COUPON_ROWS[1][2:3], "2023-02-29", *COUPON_ROWS[1][4:]]],
        "expires_on",
        id="coupon-expiry-2023-02-29",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["CB00000009", "3000", *COUPON_ROWS[1][2:3], "2023/02/24", *COUPON_ROWS[1][4:]]],
        "expires_on",
        id="coupon-expiry-slashes",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["CB00000009", "-1", *COUPON_ROWS[1][2:]]],
        "face_value_yen",
        id="coupon-negative-face-value",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["CB00000009", "3000", "2023-02-23T10:00:00", *COUPON_ROWS[1][3:]]],
        "issued_at",
        id="coupon-issued-without-offset",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["C" * 33, *COUPON_ROWS[1][1:]]],
        "inquiry_number",
        id="coupon-inquiry-number-33-chars",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["CB00000009", *COUPON_ROWS[1][1:7], "call me", "", ""]],
        "app_phone",
        id="coupon-phone-not-a-number",
    ),
    pytest.param(
        "coupons.csv",
        COUPONS_HEADER,
        [COUPON_ROWS[1], ["CB00000009", *COUPON_ROWS[1][1:8], "taro.example.jp", ""]],
        "app_email",
        id="coupon-email-without-at",
    ),
    pytest.param(
        "store_sales.csv",
        STORE_SALES_HEADER,
        [STORE_SALE_ROWS[0], ["S001", "R-0100", "2023-02-24T18:00:00+09:00", "500", "bitcoin", ""]],
        "tender",
        id="sale-unknown-tender",
    ),
    pytest.param(
        "store_sales.csv",
        STORE_SALES_HEADER,
        [STORE_SALE_ROWS[0], ["S999", "R-0100", "2023-02-24T18:00:00+09:00", "500", "cash", ""]],
        "store_id",
        id="sale-unknown-store",
    ),
    pytest.param(
        "store_sales.csv",
        STORE_SALES_HEADER,
        [STORE_SALE_ROWS[0], ["S001", "R-0100", "2023-02-24T18:00:00+09:00", "-500", "cash", ""]],
        "amount_yen",
        id="sale-negative-amount",
    ),
]


@pytest.mark.parametrize(("name", "header", "rows", "column"), BAD_OTHER_FILES)
def test_a_stores_coupons_or_sales_file_with_one_bad_row_imports_nothing_and_names_it(
    write_csv, name, header, rows, column
) -> None:
    # Given the stores S001/S002 and coupon CB00000002 imported, and a file whose line 3 is bad
    regionpay_import(
        paths=[
            write_csv("base-stores.csv", STORES_HEADER, STORE_ROWS),
            write_csv("base-coupons.csv", COUPONS_HEADER, [COUPON_ROWS[1]]),
        ]
    )
    before = table_counts()
    path = write_csv(name, header, rows)

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is refused naming line 3 and the column, and nothing changed (not even line 2)
    assert not outcome.ok
    assert outcome.failed_file == name
    assert [(e.file, e.line, e.column) for e in outcome.errors] == [(name, 3, column)]
    assert table_counts() == before


def test_a_row_with_several_bad_cells_names_each_column_once(imported, write_csv) -> None:
    # Given a movements row with a bad kind, a bad amount and a timestamp without offset
    before = table_counts()
    path = write_csv(
        "movements.csv",
        MOVEMENTS_HEADER,
        [movement(movement_id="M801", kind="refund", amount_yen="1.5", occurred_at="2023-02-24T18:03:12")],
    )

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then each bad cell is named once, on line 2
    assert not outcome.ok
    assert sorted((e.line, e.column) for e in outcome.errors) == [
        (2, "amount_yen"),
        (2, "kind"),
        (2, "occurred_at"),
    ]
    assert outcome.bad_rows == 1
    assert table_counts() == before


def test_many_bad_rows_are_counted_but_only_the_first_ones_listed(imported, write_csv) -> None:
    # Given a movements file with 25 bad amounts (lines 2..26)
    before = table_counts()
    rows = [movement(movement_id=f"M8{i:02d}", amount_yen="x") for i in range(25)]
    path = write_csv("movements.csv", MOVEMENTS_HEADER, rows)

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then all 25 are counted, the first MAX_REPORTED_ERRORS are listed in file order
    assert not outcome.ok
    assert outcome.bad_rows == 25
    assert [e.line for e in outcome.errors] == list(range(2, 2 + MAX_REPORTED_ERRORS))
    assert table_counts() == before


def test_a_refused_file_stops_the_import_keeping_earlier_files_and_skipping_later_ones(write_csv) -> None:
    # Given valid stores and sales files and a coupons file with a bad row in between
    stores = write_csv("stores.csv", STORES_HEADER, STORE_ROWS)
    coupons = write_csv(
        "coupons.csv", COUPONS_HEADER, [COUPON_ROWS[0], ["CB00000009", "abc", *COUPON_ROWS[1][2:]]]
    )
    movements = write_csv("movements.csv", MOVEMENTS_HEADER, MOVEMENT_ROWS[:1])
    sales = write_csv("store_sales.csv", STORE_SALES_HEADER, STORE_SALE_ROWS)

    # When they are imported together
    outcome = regionpay_import(paths=[sales, movements, coupons, stores])

    # Then stores went in, coupons did not, and movements and sales were skipped
    assert not outcome.ok
    assert outcome.failed_file == "coupons.csv"
    assert [(e.line, e.column) for e in outcome.errors] == [(3, "face_value_yen")]
    assert [r.file for r in outcome.results] == ["stores.csv"]
    assert outcome.skipped == ["movements.csv", "store_sales.csv"]
    assert table_counts() == {"Store": 2, "Coupon": 0, "CouponMovement": 0, "StoreSale": 0}


def test_a_file_whose_header_names_no_kind_is_refused_before_anything_is_imported(write_csv) -> None:
    # Given a valid stores file and a file whose header is not one of the four kinds
    stores = write_csv("stores.csv", STORES_HEADER, STORE_ROWS)
    unknown = write_csv("unknown.csv", ["foo", "bar"], [["1", "2"]])

    # When they are imported together
    outcome = regionpay_import(paths=[stores, unknown])

    # Then the unknown file is named at line 1 and nothing at all is imported
    assert not outcome.ok
    assert outcome.failed_file == "unknown.csv"
    assert [(e.file, e.line) for e in outcome.errors] == [("unknown.csv", 1)]
    assert outcome.skipped == ["stores.csv"]
    assert table_counts() == {"Store": 0, "Coupon": 0, "CouponMovement": 0, "StoreSale": 0}


def test_an_unsupported_encoding_is_refused_with_value_error(platform_files) -> None:
    # Given valid files
    # When the import is asked for an encoding the contract does not know
    # Then it refuses before touching the database
    with pytest.raises(ValueError, match="latin-1"):
        regionpay_import(paths=[platform_files["stores"]], encoding="latin-1")
    assert table_counts()["Store"] == 0


# --- 5. encodings and headers ----------------------------------------------------------------------

JAPANESE_STORES = [
    ["S101", "館山海鮮市場", "12", "千葉県館山市北条１８８１"],
    ["S102", "鴨川シーフード①", "12", "千葉県鴨川市横渚"],
    ["S103", "ﾎﾃﾙ勝浦（本館）", "12", "〒299-5233 千葉県勝浦市"],
]


def test_a_cp932_stores_file_imports_with_names_round_tripping_exactly(write_csv) -> None:
    # Given a Shift_JIS (cp932) stores file with Japanese names, incl. NEC special ① and half-width kana
    path = write_csv("stores.csv", STORES_HEADER, JAPANESE_STORES, encoding="cp932")
    assert "館山".encode("cp932") in path.read_bytes()

    # When it is imported with encoding cp932
    outcome = regionpay_import(paths=[path], encoding="cp932")

    # Then every name and address is stored exactly as written
    assert outcome.ok, outcome.errors
    assert list(Store.objects.order_by("store_id").values_list("store_id", "store_name", "address")) == [
        (s, n, a) for s, n, _, a in JAPANESE_STORES
    ]


def test_a_cp932_file_imported_as_utf8_is_refused_naming_the_first_bad_line(write_csv) -> None:
    # Given the same Shift_JIS stores file
    path = write_csv("stores.csv", STORES_HEADER, JAPANESE_STORES, encoding="cp932")

    # When it is imported as UTF-8 (the default)
    outcome = regionpay_import(paths=[path])

    # Then it is refused at line 2 (the header is ASCII) and nothing is stored
    assert not outcome.ok
    assert [(e.file, e.line, e.column) for e in outcome.errors] == [("stores.csv", 2, "")]
    assert table_counts() == {"Store": 0, "Coupon": 0, "CouponMovement": 0, "StoreSale": 0}


def test_a_cp932_movements_file_with_a_bad_byte_names_its_line(imported, tmp_path) -> None:
    # Given a cp932 movements file whose line 3 holds a byte sequence that is not cp932
    before = table_counts()
    text = "\n".join([",".join(MOVEMENTS_HEADER), ",".join(movement(movement_id="M801")), ""])
    path = tmp_path / "movements.csv"
    path.write_bytes(
        text.encode("cp932")
        + ",".join(movement(movement_id="M802", request_id="ZZ")).encode()
        + b"\x82\xff\n"
    )

    # When it is imported with encoding cp932
    outcome = regionpay_import(paths=[path], encoding="cp932")

    # Then it is refused at line 3 and nothing changed
    assert not outcome.ok
    assert [(e.file, e.line) for e in outcome.errors] == [("movements.csv", 3)]
    assert table_counts() == before


def test_a_utf8_file_with_bom_imports(write_csv) -> None:
    # Given a UTF-8 stores file with a byte-order mark before its first column name
    path = write_csv("stores.csv", STORES_HEADER, JAPANESE_STORES, bom=True)

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then the first column is recognised and the rows go in
    assert outcome.ok, outcome.errors
    assert list(Store.objects.order_by("store_id").values_list("store_id", "store_name")) == [
        (s, n) for s, n, _, _ in JAPANESE_STORES
    ]


def test_header_names_are_case_insensitive_in_any_order_and_extra_columns_are_ignored(write_csv) -> None:
    # Given a coupons file with upper/mixed-case names in another order and two unknown columns
    order = [9, 0, 5, 3, 1, 8, 7, 2, 4, 6]
    header = [
        "MEMO",
        *[COUPONS_HEADER[i].upper() if i % 2 else COUPONS_HEADER[i].title() for i in order],
        "x",
    ]
    rows = [["memo text", *[row[i] for i in order], "ignored"] for row in COUPON_ROWS]
    stores = write_csv(
        "stores.csv", [" Store_Name ", "STORE_ID", "Prefecture_Code"], [["館山", "S001", "12"]]
    )
    coupons = write_csv("coupons.csv", header, rows)

    # When they are imported
    outcome = regionpay_import(paths=[coupons, stores])

    # Then each value lands in its own field
    assert outcome.ok, outcome.errors
    store = Store.objects.get()
    assert (store.store_id, store.store_name, store.prefecture_code, store.address) == (
        "S001",
        "館山",
        "12",
        "",
    )
    coupon = Coupon.objects.get(inquiry_number="CB00000003")
    assert coupon.face_value_yen == 2000
    assert coupon.issued_at == dt.datetime(2023, 2, 23, 23, 30, tzinfo=UTC)
    assert coupon.expires_on == dt.date(2023, 2, 24)
    assert coupon.issuing_shop == "ホテル鴨川"
    assert coupon.app_account_id == "APP-3"
    assert coupon.app_withdrawn_at == dt.datetime(2023, 3, 1, 3, 0, tzinfo=UTC)
    assert Coupon.objects.count() == 3


# --- 6. dependency order -------------------------------------------------------------------------


def test_files_given_in_reverse_order_are_imported_in_dependency_order(platform_files) -> None:
    # Given the four files named in reverse dependency order
    paths = [platform_files[k] for k in ("store_sales", "movements", "coupons", "stores")]

    # When they are imported
    outcome = regionpay_import(paths=paths)

    # Then stores, coupons, movements and sales are taken in that order and all go in
    assert outcome.ok, outcome.errors
    assert [r.kind for r in outcome.results] == ["stores", "coupons", "movements", "store_sales"]
    assert table_counts() == {"Store": 2, "Coupon": 3, "CouponMovement": 6, "StoreSale": 2}


def test_two_imports_inside_one_outer_transaction_both_succeed(platform_files) -> None:
    # Given a caller that holds a transaction open around two imports (like a service would)
    # When it imports stores+coupons, then movements+sales, inside that transaction
    with transaction.atomic():
        first = regionpay_import(paths=[platform_files["stores"], platform_files["coupons"]])
        second = regionpay_import(paths=[platform_files["movements"], platform_files["store_sales"]])

    # Then both imports succeed (the staging table of one file does not block the next)
    assert first.ok, first.errors
    assert second.ok, second.errors
    assert table_counts() == {"Store": 2, "Coupon": 3, "CouponMovement": 6, "StoreSale": 2}


def test_progress_is_reported_per_file_with_copy_and_merge_phases(platform_files) -> None:
    # Given a progress callback that records its calls
    calls: list[tuple[str, str, int, int]] = []

    # When two files are imported
    regionpay_import(
        paths=[platform_files["coupons"], platform_files["stores"]],
        progress=lambda *args: calls.append(args),
    )

    # Then each file reports copying (bytes, up to its size) and then merging its row count
    for name, path, rows in (
        ("stores.csv", platform_files["stores"], 2),
        ("coupons.csv", platform_files["coupons"], 3),
    ):
        phases = [(phase, done, total) for file, phase, done, total in calls if file == name]
        size = path.stat().st_size
        assert ("copy", size, size) in phases
        assert phases[-1] == ("merge", 0, rows)
    assert [c[0] for c in calls].index("coupons.csv") > [c[0] for c in calls].index("stores.csv")


# --- 7. inquiry numbers are normalised --------------------------------------------------------------


def test_inquiry_numbers_in_files_are_normalised_so_movements_attach_to_their_coupon(write_csv) -> None:
    # Given a coupon written in full-width, lower case, with a full-width hyphen and a space,
    # and movements and a sale naming it in other spellings
    stores = write_csv("stores.csv", STORES_HEADER, STORE_ROWS)
    coupons = write_csv("coupons.csv", COUPONS_HEADER, [["ｃｂ－0000 0001", *COUPON_ROWS[0][1:]]])
    movements = write_csv(
        "movements.csv",
        MOVEMENTS_HEADER,
        [
            movement(movement_id="M1", inquiry_number="cb-0000-0001", kind="issue", amount_yen="3000"),
            movement(movement_id="M2", inquiry_number="ＣＢ０００００００１"),
            movement(movement_id="M3", inquiry_number="CB 0000\u30000001"),
            movement(movement_id="M4", inquiry_number="Cb\u20100000\u22120001"),
        ],
    )
    sales = write_csv(
        "store_sales.csv",
        STORE_SALES_HEADER,
        [["S001", "R-1", "2023-02-24T18:00:00+09:00", "500", "coupon", "cb ０ ０ ０ ０ ー0001"]],
    )

    # When they are imported
    outcome = regionpay_import(paths=[stores, coupons, movements, sales])

    # Then the coupon is stored as CB00000001 and every movement and the sale refer to it
    assert outcome.ok, outcome.errors
    assert list(Coupon.objects.values_list("inquiry_number", flat=True)) == ["CB00000001"]
    assert set(CouponMovement.objects.values_list("coupon_id", flat=True)) == {"CB00000001"}
    assert CouponMovement.objects.count() == 4
    assert StoreSale.objects.get().inquiry_number == "CB00000001"


def test_a_coupon_reimported_in_another_spelling_is_unchanged(imported, write_csv) -> None:
    # Given CB00000002 imported, and the same coupon written as "cb-0000-0002"
    before = table_counts()
    path = write_csv("coupons.csv", COUPONS_HEADER, [["cb-0000-0002", *COUPON_ROWS[1][1:]]])

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is the same record: no insert, no conflict
    assert outcome.ok
    assert [(r.inserted, r.unchanged, r.conflicts) for r in outcome.results] == [(0, 1, 0)]
    assert table_counts() == before


# --- 8. the management command -----------------------------------------------------------------------


def test_the_command_imports_the_files_and_prints_a_summary_per_file(platform_files) -> None:
    # Given valid files
    out, err = io.StringIO(), io.StringIO()

    # When the command imports them
    call_command(
        "import_regionpay", *map(str, platform_files.values()), "--no-progress", stdout=out, stderr=err
    )

    # Then each file has its summary line and the rows are stored
    summary = out.getvalue()
    assert "stores.csv (stores): 2 rows — inserted 2, unchanged 0, conflicts 0" in summary
    assert "coupons.csv (coupons): 3 rows — inserted 3, unchanged 0, conflicts 0" in summary
    assert "movements.csv (movements): 6 rows — inserted 6, unchanged 0, conflicts 0" in summary
    assert "store_sales.csv (store_sales): 2 rows — inserted 2, unchanged 0, conflicts 0" in summary
    assert err.getvalue() == ""
    assert table_counts() == {"Store": 2, "Coupon": 3, "CouponMovement": 6, "StoreSale": 2}


def test_the_command_with_encoding_cp932_imports_a_shift_jis_file(write_csv) -> None:
    # Given a Shift_JIS stores file
    path = write_csv("stores.csv", STORES_HEADER, JAPANESE_STORES, encoding="cp932")
    out = io.StringIO()

    # When the command imports it with --encoding cp932
    call_command("import_regionpay", str(path), "--encoding", "cp932", "--no-progress", stdout=out)

    # Then the names are stored exactly
    assert "inserted 3" in out.getvalue()
    assert Store.objects.get(store_id="S102").store_name == "鴨川シーフード①"


def test_the_command_fails_naming_the_bad_row_and_imports_nothing_of_that_file(imported, write_csv) -> None:
    # Given a movements file whose line 3 is a payment with a positive amount
    before = table_counts()
    path = write_csv(
        "movements.csv",
        MOVEMENTS_HEADER,
        [
            movement(movement_id="M801"),
            movement(movement_id="M802", kind="payment", amount_yen="500", store_id="S001"),
        ],
    )
    out, err = io.StringIO(), io.StringIO()

    # When the command imports it
    with pytest.raises(CommandError, match=r"movements\.csv") as excinfo:
        call_command("import_regionpay", str(path), "--no-progress", stdout=out, stderr=err)

    # Then it fails (non-zero exit), the row and column are printed, and nothing was imported
    assert "1 行" in str(excinfo.value)
    assert "movements.csv:3: amount_yen:" in err.getvalue()
    assert table_counts() == before


def test_the_command_refuses_a_missing_file(tmp_path) -> None:
    # Given a path that does not exist
    # When the command is run on it
    # Then it fails naming the path, before importing anything
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_regionpay", str(tmp_path / "nope.csv"), "--no-progress")
    assert table_counts() == {"Store": 0, "Coupon": 0, "CouponMovement": 0, "StoreSale": 0}


def test_the_command_refuses_an_unsupported_encoding(platform_files) -> None:
    # Given a valid file
    # When the command is asked for latin-1
    # Then it fails with CommandError and imports nothing
    with pytest.raises(CommandError, match="latin-1"):
        call_command(
            "import_regionpay", str(platform_files["stores"]), "--encoding", "latin-1", "--no-progress"
        )
    assert table_counts()["Store"] == 0


# --- timestamps must be ISO 8601 with an offset -------------------------------------------------------


def test_a_bare_date_as_a_timestamp_is_refused_for_having_no_offset(imported, write_csv) -> None:
    # Given a movement whose occurred_at is a date without time or offset
    before = table_counts()
    path = write_csv(
        "movements.csv", MOVEMENTS_HEADER, [movement(movement_id="M801", occurred_at="2023-02-24")]
    )

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is refused at line 2, column occurred_at, and nothing changed
    assert table_counts() == before
    assert not outcome.ok
    assert [(e.line, e.column) for e in outcome.errors] == [(2, "occurred_at")]


def test_a_timestamp_not_in_iso_8601_is_refused(imported, write_csv) -> None:
    # Given a movement whose occurred_at is US-style month/day/year with an offset
    before = table_counts()
    path = write_csv(
        "movements.csv",
        MOVEMENTS_HEADER,
        [movement(movement_id="M801", occurred_at="02/24/2023 18:00:00+09:00")],
    )

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is refused at line 2, column occurred_at, and nothing changed
    assert table_counts() == before
    assert not outcome.ok
    assert [(e.line, e.column) for e in outcome.errors] == [(2, "occurred_at")]


# --- regressions: bugs found by this suite, fixed in the importer ----------------------------------


def test_a_timestamp_in_year_zero_is_reported_as_a_row_error(imported, write_csv) -> None:
    # Given a movement dated year 0000 (matches the ISO pattern, is not a real date)
    before = table_counts()
    path = write_csv(
        "movements.csv", MOVEMENTS_HEADER, [movement(movement_id="M801", occurred_at="0000-01-01T00:00:00Z")]
    )

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is refused naming line 2 and occurred_at, and nothing changed
    assert not outcome.ok
    assert [(e.line, e.column) for e in outcome.errors] == [(2, "occurred_at")]
    assert table_counts() == before


def test_a_three_digit_prefecture_code_is_refused(write_csv) -> None:
    # Given a stores file whose line 2 has prefecture code 123
    path = write_csv("stores.csv", STORES_HEADER, [["S101", "白浜", "123", ""]])

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is refused at line 2, column prefecture_code, and nothing is stored
    assert Store.objects.count() == 0
    assert not outcome.ok
    assert [(e.line, e.column) for e in outcome.errors] == [(2, "prefecture_code")]


@pytest.mark.parametrize(
    ("phone", "readable_as"),
    [
        pytest.param("090-1234", None, id="too-few-digits"),
        pytest.param("+81 090-1234-5678", "+819012345678", id="trunk-zero-after-country-code"),
    ],
)
def test_a_malformed_japanese_phone_number_is_never_stored_as_is(write_csv, phone, readable_as) -> None:
    # Given a coupon whose app phone is a malformed Japanese number
    path = write_csv("coupons.csv", COUPONS_HEADER, [["CB00000009", *COUPON_ROWS[0][1:7], phone, "", ""]])

    # When it is imported
    outcome = regionpay_import(paths=[path])

    # Then it is refused at line 2, column app_phone (nothing stored), or, where the intended
    # number is unambiguous, stored as that valid E.164 number
    if outcome.ok and readable_as is not None:
        assert raw_phone("CB00000009") == readable_as
    else:
        assert not outcome.ok
        assert [(e.line, e.column) for e in outcome.errors] == [(2, "app_phone")]
        assert Coupon.objects.count() == 0


def test_a_file_touching_more_coupons_than_the_change_log_lists_notes_all(
    imported, write_csv, monkeypatch
) -> None:
    from coupons.services import ledger_changes

    monkeypatch.setattr(ledger_changes, "BULK_KEYS", 1)
    before_changes = _last_change()
    rows = [
        ["M201", "CB00000002", "adjustment", "-10", "2023-03-01T10:00:00+09:00", "", "", ""],
        ["M202", "CB00000003", "adjustment", "-10", "2023-03-01T10:00:00+09:00", "", "", ""],
    ]

    assert regionpay_import(paths=[write_csv("movements-3.csv", MOVEMENTS_HEADER, rows)]).ok

    assert _changes_since(before_changes) == [("all", "", None, None)]
