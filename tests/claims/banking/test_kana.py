"""The Zengin holder-name conversion (DESIGN.md, "Account-holder names")."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims.banking.kana import KanaError, zengin_kana, zengin_truncate

# The allowed set, spelled out here rather than imported, so the test checks the module's set.
ZENGIN_SET = re.compile(r"[0-9A-Z\uff71-\uff9d\uff9e\uff9f().\- ]+")
MARKS = "\uff9e\uff9f"

# What travellers type, weighted towards what converts, with the things that must be refused.
ALPHABET = st.one_of(
    st.characters(min_codepoint=0x3041, max_codepoint=0x309F),  # hiragana and marks
    st.characters(min_codepoint=0x30A0, max_codepoint=0x30FF),  # katakana
    st.characters(min_codepoint=0xFF61, max_codepoint=0xFF9F),  # half-width katakana
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),  # full-width ASCII
    st.sampled_from("abcXYZ019 ()-./,　・ー－ｰ゛゜\u3099\u309a山田々"),
    st.characters(codec="utf-8"),
)
NAMES = st.text(alphabet=ALPHABET, max_size=40)


def convert(text: str) -> str | None:
    try:
        return zengin_kana(text)
    except KanaError:
        return None


@settings(max_examples=600, deadline=None)
@given(NAMES)
def test_output_is_always_in_the_zengin_set_or_refused(text: str) -> None:
    result = convert(text)
    if result is None:
        return
    assert ZENGIN_SET.fullmatch(result), result
    assert result == result.strip()
    assert "  " not in result
    assert result[0] not in MARKS
    # Every voiced mark sits right after a kana.
    for i, ch in enumerate(result):
        if ch in MARKS:
            assert "\uff71" <= result[i - 1] <= "\uff9d", result


@settings(max_examples=600, deadline=None)
@given(NAMES)
def test_conversion_is_idempotent(text: str) -> None:
    result = convert(text)
    if result is not None:
        assert zengin_kana(result) == result


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x3096), min_size=1, max_size=20))
def test_hiragana_and_katakana_give_the_same_name(hiragana: str) -> None:
    katakana = "".join(chr(ord(c) + 0x60) for c in hiragana)
    assert zengin_kana(hiragana) == zengin_kana(katakana)


@settings(max_examples=600, deadline=None)
@given(NAMES, st.integers(min_value=1, max_value=45))
def test_truncation_fits_and_never_parts_a_kana_from_its_mark(text: str, max_bytes: int) -> None:
    name = convert(text)
    if name is None:
        return
    cut = zengin_truncate(name, max_bytes)
    assert len(cut.encode("shift_jis")) <= max_bytes
    assert name.startswith(cut)
    assert not cut or cut[0] not in MARKS
    if cut != name:
        # The first character left out is never the mark of the last kana kept.
        assert name[len(cut) :].lstrip(" ")[:1] not in MARKS or cut == ""
        assert name[len(cut)] not in MARKS
    else:
        assert len(name.encode("shift_jis")) <= max_bytes


@pytest.mark.parametrize(
    ("typed", "zengin"),
    [
        ("やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # ideographic space
        ("ｷｬﾘｰ ﾊﾟﾐｭﾐｭ", "ｷﾔﾘ- ﾊﾟﾐﾕﾐﾕ"),  # small kana large, long vowel hyphen
        ("しょうこ", "ｼﾖｳｺ"),
        ("きっかわ", "ｷﾂｶﾜ"),
        ("ヲノ", "ｵﾉ"),
        ("ヴァイオリン", "ｳﾞｱｲｵﾘﾝ"),
        ("ジョン・スミス", "ｼﾞﾖﾝ ｽﾐｽ"),
        ("ｓｍｉｔｈ ｊｏｈｎ", "SMITH JOHN"),
        ("Smith John", "SMITH JOHN"),
        ("（カ）ミライ", "(ｶ)ﾐﾗｲ"),
        ("ﾀﾅｶ.ｲﾁﾛｳ", "ﾀﾅｶ.ｲﾁﾛｳ"),
        ("カ゛ッコウ", "ｶﾞﾂｺｳ"),  # a spacing voiced mark typed after the kana
        ("いすゞ", "ｲｽｽﾞ"),  # iteration mark repeats the kana, voiced
        ("ヰヱ", "ｲｴ"),
        ("ワ\u3099", "ﾜﾞ"),
        ("１２３", "123"),
        ("  ｽｽﾞｷ   ﾊﾅｺ ", "ｽｽﾞｷ ﾊﾅｺ"),
        ("ｽｽﾞｷ－ﾊﾅｺ", "ｽｽﾞｷ-ﾊﾅｺ"),  # jaconv would make this a long vowel mark
    ],
)
def test_examples(typed: str, zengin: str) -> None:
    assert zengin_kana(typed) == zengin


@pytest.mark.parametrize("typed", ["山田太郎", "やまだ 太郎", "佐々木", "〆切"])
def test_kanji_is_refused_with_a_request_for_the_reading(typed: str) -> None:
    with pytest.raises(KanaError) as excinfo:
        zengin_kana(typed)
    message = str(excinfo.value)
    assert "漢字" in message
    assert "読み方" in message
    assert "カタカナ" in message


@pytest.mark.parametrize(("typed", "named"), [("ﾔﾏﾀﾞ/ﾀﾛｳ", "/"), ("ﾔﾏﾀﾞ,ﾀﾛｳ", ","), ("ﾔﾏﾀﾞ@", "@"), ("é", "é")])
def test_characters_outside_the_set_are_refused_by_name(typed: str, named: str) -> None:
    with pytest.raises(KanaError) as excinfo:
        zengin_kana(typed)
    assert f"「{named}」" in str(excinfo.value)


@pytest.mark.parametrize("typed", ["", "   ", "・"])
def test_an_empty_name_is_refused(typed: str) -> None:
    with pytest.raises(KanaError, match="カタカナで入力"):
        zengin_kana(typed)


@pytest.mark.parametrize("typed", ["゛ア", "\u3099", "A\u3099", "ガ\u3099"])
def test_a_voiced_mark_without_its_own_kana_is_refused(typed: str) -> None:
    with pytest.raises(KanaError):
        zengin_kana(typed)


def test_truncation_drops_a_kana_rather_than_part_it_from_its_mark() -> None:
    name = "ｱ" * 29 + "ｶﾞ"  # 31 bytes; byte 30 is ｶ, byte 31 its mark
    assert zengin_truncate(name) == "ｱ" * 29
    assert zengin_truncate("ｱ" * 28 + "ｶﾞ") == "ｱ" * 28 + "ｶﾞ"
    assert zengin_truncate("ｱ" * 31) == "ｱ" * 30
    assert zengin_truncate("ﾔﾏﾀﾞ ﾀﾛｳ", 5) == "ﾔﾏﾀﾞ"  # the space before the cut goes too


def test_truncation_refuses_text_that_was_not_converted() -> None:
    with pytest.raises(KanaError):
        zengin_truncate("やまだ")
    with pytest.raises(KanaError):
        zengin_truncate("ﾞｱ")
