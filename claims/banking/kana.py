"""Account-holder names in the form a Zengin transfer file carries them (DESIGN.md, "Account-holder names").

A bank matches the receiving account's holder by its name in half-width katakana, with a small
character set: ``0-9 A-Z ｱ-ﾝ ﾞ ﾟ ( ) - . space``. What travellers type (hiragana, full-width
katakana, half-width katakana typed by an older keyboard, full-width Latin, a long vowel mark)
is converted here; what cannot be converted honestly (kanji, whose reading we cannot know) is
refused with a sentence that tells the traveller what to type instead.

Neither jaconv nor mojimoji does all of it (jaconv's ``normalize`` even turns ``－`` into ``ー``),
so the module is our own and small: the tables come from the Unicode database, not from hand.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ALLOWED", "KanaError", "zengin_kana", "zengin_truncate"]

#: The characters a Zengin name field may hold, as a regular-expression class.
ALLOWED = "0-9A-Z\uff71-\uff9d\uff9e\uff9f().\\- "
_ALLOWED_RE = re.compile(f"[{ALLOWED}]*")

_VOICED = "\uff9e"  # ﾞ
_SEMI_VOICED = "\uff9f"  # ﾟ
_MARKS = frozenset((_VOICED, _SEMI_VOICED))
_COMBINING = {"\u3099": _VOICED, "\u309a": _SEMI_VOICED}

# Full-width katakana -> half-width, read from Unicode's own compatibility mappings
# (ｱ U+FF71 … ﾝ U+FF9D decompose to ア … ン), so no hand-typed table can drift.
_HALF = {unicodedata.normalize("NFKC", chr(cp)): chr(cp) for cp in range(0xFF71, 0xFF9E)}

# Small kana are written large in bank names (ｬ→ﾔ, ｯ→ﾂ); ヰヱヲ have no half-width form in the
# Zengin set and are read イ, エ, オ. The Ainu small letters (U+31F0…) are small forms of ordinary kana.
_LARGE = {
    "ァ": "ア", "ィ": "イ", "ゥ": "ウ", "ェ": "エ", "ォ": "オ", "ッ": "ツ", "ャ": "ヤ", "ュ": "ユ",
    "ョ": "ヨ", "ヮ": "ワ", "ヵ": "カ", "ヶ": "ケ", "ヰ": "イ", "ヱ": "エ", "ヲ": "オ",
    "ㇰ": "ク", "ㇱ": "シ", "ㇲ": "ス", "ㇳ": "ト", "ㇴ": "ヌ", "ㇵ": "ハ", "ㇶ": "ヒ", "ㇷ": "フ",
    "ㇸ": "ヘ", "ㇹ": "ホ", "ㇺ": "ム", "ㇻ": "ラ", "ㇼ": "リ", "ㇽ": "ル", "ㇾ": "レ", "ㇿ": "ロ",
}  # fmt: skip

# Marks read as the Zengin hyphen: the long vowel mark and the dashes people type for it.
_HYPHENS = frozenset("ー‐‑‒–—―−－ｰ")
# The middle dot between the parts of a foreign name reads as the space between them.
_SEPARATORS = frozenset("・･")
_ITERATION = {"ゝ": False, "ヽ": False, "ゞ": True, "ヾ": True}  # mark -> voiced?

_KANJI_PREFIXES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH")


class KanaError(ValueError):
    """A name that cannot be written in a Zengin file; ``str()`` is a sentence for the traveller."""


def _is_kanji(ch: str) -> bool:
    return ch in "々〆〇" or unicodedata.name(ch, "").startswith(_KANJI_PREFIXES)


def _katakana_to_half(ch: str) -> str:
    """One full-width katakana (voiced or not) as its half-width spelling, or '' if it has none."""
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    half = _HALF.get(_LARGE.get(base, base))
    if half is None:
        return ""
    return half + "".join(_COMBINING[m] for m in marks if m in _COMBINING)


def _quote(chars: list[str]) -> str:
    unique = list(dict.fromkeys(chars))
    return "".join(f"「{c}」" for c in unique[:5]) + ("など" if len(unique) > 5 else "")


def zengin_kana(text: str) -> str:
    """Convert a name to the Zengin half-width set, or raise :class:`KanaError`.

    NFKC, hiragana → katakana, small kana → large, ヲ → ｵ, long vowel → ``-``, upper-case Latin,
    half-width; spaces collapsed and trimmed. The result is never truncated: see
    :func:`zengin_truncate`. Converting a result again gives it back unchanged.
    """
    # The spacing voiced marks (゛゜) NFKC turns into "space + combining mark"; made combining
    # first, they join the kana before them as a typed "カ゛" should.
    text = text.replace("\u309b", "\u3099").replace("\u309c", "\u309a")
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    last_kana = ""  # the last kana written, for the iteration marks (いすゞ)
    kanji: list[str] = []
    other: list[str] = []
    for ch in text:
        if "\u3041" <= ch <= "\u3096":  # hiragana (with ゔゕゖ) -> katakana
            ch = chr(ord(ch) + 0x60)
        if ch in _ITERATION:
            if not last_kana:
                other.append(ch)
                continue
            ch = unicodedata.normalize("NFC", last_kana + ("\u3099" if _ITERATION[ch] else ""))
        if "\u30a1" <= ch <= "\u30fa" or "\u31f0" <= ch <= "\u31ff":
            half = _katakana_to_half(ch)
            if not half:
                other.append(ch)
                continue
            out.append(half)
            last_kana = _LARGE.get(unicodedata.normalize("NFD", ch)[0], unicodedata.normalize("NFD", ch)[0])
        elif ch in _COMBINING:
            # A mark NFKC could not join (ｱﾞ, ｲﾞ): kept after its kana, refused anywhere else.
            if out and "\uff71" <= out[-1][-1] <= "\uff9d":
                out.append(_COMBINING[ch])
            else:
                other.append("゛" if ch == "\u3099" else "゜")
        elif ch in _HYPHENS:
            out.append("-")
        elif ch in _SEPARATORS or ch.isspace():
            out.append(" ")
        elif ch.isascii() and (ch.isalnum() or ch in "().-"):
            out.append(ch.upper())
        elif _is_kanji(ch):
            kanji.append(ch)
        else:
            other.append(ch)
    if kanji:
        raise KanaError(
            f"口座名義に漢字（{_quote(kanji)}）は使えません。"
            "通帳やキャッシュカードに書かれているとおり、名義の読み方をカタカナで入力してください"
            "（例：ヤマダ タロウ）。"
        )
    if other:
        raise KanaError(
            f"口座名義に使えない文字（{_quote(other)}）が含まれています。"
            "カタカナ・英大文字・数字・スペースと ( ) - . で入力してください。"
        )
    result = " ".join("".join(out).split())
    if not result:
        raise KanaError("口座名義をカタカナで入力してください。")
    if not _ALLOWED_RE.fullmatch(result):  # pragma: no cover - the loop above admits nothing else
        raise AssertionError(f"zengin_kana produced a character outside the Zengin set: {result!r}")
    return result


def zengin_truncate(name: str, max_bytes: int = 30) -> str:
    """Cut a converted name to ``max_bytes`` of Shift_JIS without parting a kana from its ﾞ/ﾟ.

    Zengin fields are fixed-width (受取人名 30 bytes, 依頼人名 40, bank and branch names 15); banks
    compare the part that fits. Every character of the set is one byte, so a cut between a kana
    and its voiced mark would change the name's reading: the kana goes too.
    """
    if not _ALLOWED_RE.fullmatch(name) or (name and name[0] in _MARKS):
        raise KanaError("口座名義は全銀形式のカナ（zengin_kana の結果）で渡してください。")
    if len(name.encode("shift_jis")) <= max_bytes:
        return name
    cut = max_bytes
    while cut > 0 and name[cut] in _MARKS:
        cut -= 1
    return name[:cut].rstrip(" ")
