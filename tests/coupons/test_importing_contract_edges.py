"""Edges of the file contract found by trying malformed files (issue #7 §9): each is refused with
the file, line, column and a sentence saying what is wrong, on every road a file can take
(staging, direct, bulk), and nothing of the file is stored."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from coupons.management.commands import import_regionpay
from coupons.models import Coupon, CouponMovement, LedgerChange, Store
from coupons.services.importing import bulk, direct, regionpay_import
from tests.coupons.test_importing_direct import MOVEMENT_HEADER, _movements

pytestmark = pytest.mark.django_db(transaction=True)  # the direct and bulk roads own their transaction

STORE_HEADER = ["store_id", "store_name", "prefecture_code"]
COUPON_HEADER = [
    "inquiry_number",
    "face_value_yen",
    "issued_at",
    "expires_on",
    "issuing_shop",
    "prefecture_code",
]
ROADS = ["staging", "direct", "bulk"]


@pytest.fixture
def road(request, monkeypatch) -> str:
    """Send a movements file down one road: staging (a small file), direct (a large file into a
    ledger that is not empty) or bulk (a large first load of an empty ledger)."""
    if request.param in {"direct", "bulk"}:
        monkeypatch.setattr(direct, "DIRECT_MIN_BYTES", 0)
    if request.param == "bulk":
        monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
        monkeypatch.setattr(bulk, "BLOCK_BYTES", 300)
    return request.param


def _ledger_before(road: str, platform) -> list[str]:
    """The ledger as the road needs it (empty for bulk, one movement for direct and staging)."""
    if road != "bulk":
        first = platform("movements0.csv", MOVEMENT_HEADER, _movements(1)[:1])
        assert regionpay_import(paths=[first]).ok
    return sorted(CouponMovement.objects.values_list("movement_id", flat=True))


def _assert_nothing_of_the_file(before: list[str]) -> None:
    assert sorted(CouponMovement.objects.values_list("movement_id", flat=True)) == before
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'coupons_couponmovement_load%%'")
        assert cursor.fetchone()[0] == 0  # no bulk table left behind


def _the_good_road_is_taken(road: str, platform) -> None:
    """(The same file without its bad line goes down the road under test: the test is not vacuous.)"""
    path = platform("movements_ok.csv", MOVEMENT_HEADER, _movements(20)[2:])
    outcome = regionpay_import(paths=[path])
    assert outcome.ok
    assert outcome.results[0].method == road


# --- CR-only line endings ----------------------------------------------------------------------

CR_ONLY = "改行が CR だけのファイルです（古い Mac の形式）。改行を LF か CRLF にして保存し直してください"


@pytest.mark.parametrize("road", ROADS, indirect=True)
def test_a_movements_file_with_cr_only_line_endings_is_refused_with_a_sentence(
    road, platform, tmp_path
) -> None:
    before = _ledger_before(road, platform)
    path = tmp_path / "movements.csv"
    lines = [",".join(MOVEMENT_HEADER), *(",".join(map(str, row)) for row in _movements(20)[2:])]
    path.write_bytes(("\r".join(lines) + "\r").encode())

    outcome = regionpay_import(paths=[path])

    assert not outcome.ok
    assert [(e.file, e.line, e.column, e.message) for e in outcome.errors] == [
        ("movements.csv", 1, "", CR_ONLY)
    ]
    _assert_nothing_of_the_file(before)
    _the_good_road_is_taken(road, platform)


def test_a_stores_file_with_cr_only_line_endings_is_refused_and_crlf_is_fine(tmp_path) -> None:
    cr = tmp_path / "stores.csv"
    cr.write_bytes(b"store_id,store_name,prefecture_code\rS1,X,12\rS2,Y,12\r")

    outcome = regionpay_import(paths=[cr])

    assert [(e.file, e.line, e.column, e.message) for e in outcome.errors] == [("stores.csv", 1, "", CR_ONLY)]
    assert not Store.objects.exists()
    crlf = tmp_path / "stores2.csv"
    crlf.write_bytes(b"store_id,store_name,prefecture_code\r\nS1,X,12\r\nS2,Y,12\r\n")
    assert regionpay_import(paths=[crlf]).ok
    assert Store.objects.count() == 2


# --- a UTF-8 file read as cp932, and the reverse -----------------------------------------------


def test_a_utf8_file_imported_as_cp932_is_refused_naming_utf8_and_the_first_japanese_cell(write_csv) -> None:
    # Given a UTF-8 stores file whose first non-ASCII text is on line 3, column store_name
    path = write_csv(
        "stores.csv", [*STORE_HEADER, "address"], [["S1", "Tateyama", "12", ""], ["S2", "館山", "12", ""]]
    )

    # When it is imported as cp932
    outcome = regionpay_import(paths=[path], encoding="cp932")

    # Then it is refused (not stored as 鬢ｨ螻ｱ), saying it looks like UTF-8 and what to choose
    assert [(e.file, e.line, e.column) for e in outcome.errors] == [("stores.csv", 3, "store_name")]
    message = outcome.errors[0].message
    assert message.startswith("このファイルは UTF-8 のようです")
    assert "文字コードに UTF-8 を選んでください" in message
    assert not Store.objects.exists()


def test_a_genuine_cp932_file_still_imports_as_cp932(write_csv) -> None:
    path = write_csv("stores.csv", STORE_HEADER, [["S1", "館山海鮮市場", "12"]], encoding="cp932")

    assert regionpay_import(paths=[path], encoding="cp932").ok
    assert Store.objects.get().store_name == "館山海鮮市場"


def test_a_cp932_file_read_as_utf8_says_which_encoding_to_choose_without_a_command_line_flag(
    write_csv,
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from coupons.services.import_runs import import_run_create

    data = write_csv(
        "stores.csv", STORE_HEADER, [["S1", "館山海鮮市場", "12"]], encoding="cp932"
    ).read_bytes()

    # As the admin's upload runs it (the web user has a select, not a command line)
    run = import_run_create(files=[SimpleUploadedFile("stores.csv", data)], encoding="utf-8", created_by=None)
    run.refresh_from_db()

    assert run.status == "failed"
    [error] = run.errors
    assert (error["file"], error["line"], error["column"]) == ("stores.csv", 2, "")
    assert error["message"] == (
        "UTF-8 として読めない文字があります"
        "（Shift_JIS（cp932）のファイルなら、文字コードに Shift_JIS（cp932）を選んでください）"
    )
    assert "--" not in error["message"]
    assert not Store.objects.exists()


# --- fractions of a second beyond microseconds ----------------------------------------------------

TOO_FINE = "秒の小数は 6 桁（マイクロ秒）までです（7 桁以上は丸めると時刻が変わるため取り込みません）"


@pytest.mark.parametrize("road", ROADS, indirect=True)
@pytest.mark.parametrize("fraction", ["1234567", "12345678", "123456789"])
def test_a_timestamp_with_7_to_9_fraction_digits_is_refused_as_such(road, fraction, platform) -> None:
    before = _ledger_before(road, platform)
    rows = _movements(20)[2:]
    rows[3][4] = f"2023-02-24T18:03:12.{fraction}+09:00"  # line 5
    path = platform("movements.csv", MOVEMENT_HEADER, rows)

    outcome = regionpay_import(paths=[path])

    assert [(e.file, e.line, e.column, e.message) for e in outcome.errors] == [
        ("movements.csv", 5, "occurred_at", TOO_FINE)
    ]
    _assert_nothing_of_the_file(before)
    _the_good_road_is_taken(road, platform)


def test_six_fraction_digits_are_kept_to_the_microsecond(platform) -> None:
    rows = _movements(1)[:1]
    rows[0][4] = "2023-02-23T10:00:00.123456+09:00"
    assert regionpay_import(paths=[platform("movements.csv", MOVEMENT_HEADER, rows)]).ok
    assert CouponMovement.objects.get().occurred_at.microsecond == 123456


def test_a_coupon_issued_at_with_nine_fraction_digits_is_refused_as_such(write_csv) -> None:
    path = write_csv(
        "coupons.csv",
        COUPON_HEADER,
        [["CB1", 3000, "2023-02-23T10:00:00.123456789+09:00", "2023-02-24", "房総トラベル", "12"]],
    )

    outcome = regionpay_import(paths=[path])

    assert [(e.line, e.column, e.message) for e in outcome.errors] == [(2, "issued_at", TOO_FINE)]
    assert not Coupon.objects.exists()


# --- prefecture codes are two digits as written -----------------------------------------------------

PREFECTURE = "都道府県コードは JIS X 0401 の 2 桁（01〜47）で書いてください"


@pytest.mark.parametrize("code", ["1", "9", "012", " 1", "1.0"])
def test_a_prefecture_code_that_is_not_two_digits_is_refused(write_csv, code) -> None:
    path = write_csv("stores.csv", STORE_HEADER, [["S1", "館山", "12"], ["S2", "札幌", code]])

    outcome = regionpay_import(paths=[path])

    assert [(e.file, e.line, e.column, e.message) for e in outcome.errors] == [
        ("stores.csv", 3, "prefecture_code", PREFECTURE)
    ]
    assert not Store.objects.exists()


def test_a_coupon_of_prefecture_1_is_not_taken_for_hokkaido(write_csv) -> None:
    path = write_csv(
        "coupons.csv", COUPON_HEADER, [["CB1", 3000, "2023-02-23T10:00:00+09:00", "2023-02-24", "房総", "1"]]
    )

    outcome = regionpay_import(paths=[path])

    assert [(e.line, e.column, e.message) for e in outcome.errors] == [(2, "prefecture_code", PREFECTURE)]
    assert not Coupon.objects.exists()


# --- a cancel names the request it reverses ------------------------------------------------------------

CANCEL = "取消（cancel）には、取り消す決済の request_id が必要です"


@pytest.mark.parametrize("road", ROADS, indirect=True)
def test_a_cancel_without_request_id_is_refused(road, platform) -> None:
    before = _ledger_before(road, platform)
    changes = LedgerChange.objects.count()
    rows = _movements(20)[2:]
    rows[6] = ["C1", rows[6][1], "cancel", 500, "2023-02-24T18:10:00+09:00", "S1", ""]  # line 8

    outcome = regionpay_import(paths=[platform("movements.csv", MOVEMENT_HEADER, rows)])

    assert [(e.file, e.line, e.column, e.message) for e in outcome.errors] == [
        ("movements.csv", 8, "request_id", CANCEL)
    ]
    _assert_nothing_of_the_file(before)
    assert LedgerChange.objects.count() == changes
    _the_good_road_is_taken(road, platform)


# --- the command's exit status -------------------------------------------------------------------------


def test_the_command_exits_3_on_conflicts_having_imported_the_rest_and_overwritten_nothing(write_csv) -> None:
    first = write_csv("stores.csv", STORE_HEADER, [["S1", "館山海鮮市場", "12"]])
    call_command("import_regionpay", str(first), "--no-progress", stdout=_Sink(), stderr=_Sink())  # exits 0
    again = write_csv("stores2.csv", STORE_HEADER, [["S1", "別の名前", "12"], ["S2", "鴨川", "12"]])

    with pytest.raises(CommandError) as exited:
        call_command("import_regionpay", str(again), "--no-progress", stdout=_Sink(), stderr=_Sink())

    assert exited.value.returncode == import_regionpay.EXIT_CONFLICTS == 3
    assert "1 件の記録が、すでに取り込んだ同じキーの記録と内容が違います（上書きしていません）" in str(
        exited.value
    )
    assert dict(Store.objects.values_list("store_id", "store_name")) == {"S1": "館山海鮮市場", "S2": "鴨川"}


def test_the_command_exits_1_on_a_refused_file_and_documents_its_statuses(write_csv) -> None:
    bad = write_csv("stores.csv", STORE_HEADER, [["S1", "館山", "1"]])

    with pytest.raises(CommandError) as exited:
        call_command("import_regionpay", str(bad), "--no-progress", stdout=_Sink(), stderr=_Sink())

    assert exited.value.returncode == import_regionpay.EXIT_REFUSED == 1
    assert not Store.objects.exists()
    help_text = import_regionpay.Command().help
    assert "Exit status: 0 every file imported; 1 a file was refused" in help_text
    assert "3 imported, but some records have a known key with different content" in help_text


class _Sink:
    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass
