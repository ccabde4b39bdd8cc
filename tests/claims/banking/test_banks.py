"""Bank and branch look-ups from zengin-code (DESIGN.md, "Banks")."""

from __future__ import annotations

import pytest

from claims.banking import banks
from claims.banking.banks import AccountType, get_bank, get_branch, search_banks, search_branches


def test_codes_find_banks_and_branches() -> None:
    bank = get_bank("0001")
    assert bank is not None
    assert (bank.name, bank.kana) == ("みずほ", "ミズホ")
    branch = get_branch("0001", "001")
    assert branch is not None
    assert (branch.name, branch.bank_code) == ("東京営業部", "0001")
    assert get_bank("０００１") == bank  # full-width digits as typed
    assert get_bank("9999") is None
    assert get_branch("0001", "999") is None
    assert get_branch("9999", "001") is None


def test_the_tables_are_loaded_once() -> None:
    assert banks.catalogue() is banks.catalogue()
    index = banks.catalogue().branch_index("0005")
    search_branches("0005", "しんじゅく")
    assert banks.catalogue().branch_index("0005") is index


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("みずほ", "0001"),
        ("みずほ銀行", "0001"),
        ("ミズホ", "0001"),
        ("ﾐｽﾞﾎ", "0001"),
        ("mizuho", "0001"),
        ("0005", "0005"),
        ("０００５", "0005"),
        ("みつびしゆーえふじぇい", "0005"),  # small kana typed, the table writes them large
        ("三菱UFJ", "0005"),  # half-width Latin against the table's full-width
        ("川口信用金庫", "1251"),  # the long form against the table's 川口信金
        ("ゆうちょ", "9900"),
    ],
)
def test_banks_are_found_by_name_kana_or_code(query: str, code: str) -> None:
    assert search_banks(query)[0].code == code


def test_exact_name_comes_before_longer_ones() -> None:
    codes = [b.name for b in search_branches("0005", "新宿")]
    assert codes[0] == "新宿"
    assert all("新宿" in name for name in codes)


@pytest.mark.parametrize("query", ["408", "四〇八", "よんぜろはち", "ﾖﾝｾﾞﾛﾊﾁ"])
def test_branches_are_found_by_code_name_or_kana(query: str) -> None:
    assert search_branches("9900", query)[0].code == "408"


def test_searches_are_limited_and_empty_queries_find_nothing() -> None:
    assert len(search_banks("農協", limit=5)) == 5
    assert search_banks("") == []
    assert search_banks("   ") == []
    assert search_branches("0001", "存在しない支店名") == []
    assert search_branches("9999", "東京") == []


def test_a_search_reads_only_the_entries_its_index_points_at() -> None:
    index = banks.catalogue().branch_index("0005")

    class CountingList(list):
        reads = 0

        def __getitem__(self, i):  # type: ignore[no-untyped-def]
            CountingList.reads += 1
            return super().__getitem__(i)

    original = index.keys
    index.keys = CountingList(original)
    try:
        found = index.search("しんじゅくにし", 20)
    finally:
        index.keys = original
    assert [b.name for b in found] == ["新宿西"]
    assert CountingList.reads < len(original) / 20  # a handful, not every one of 700+ branches


def test_zengin_names_are_half_width_and_fit_fifteen_bytes() -> None:
    bank = get_bank("0005")
    assert bank is not None
    assert bank.zengin_name == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"
    for b in banks.all_banks():
        assert len(b.zengin_name.encode("shift_jis")) <= 15


def test_account_types_have_their_zengin_digits() -> None:
    assert [t.zengin_code for t in AccountType] == ["1", "2", "4"]
    assert AccountType("ordinary").label_ja == "普通"
