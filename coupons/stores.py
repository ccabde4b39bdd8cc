"""Store names as an agent types them on a call: found forgivingly, through an index.

A caller says 「たてやま かいせん」 or 「ﾀﾃﾔﾏ」 or 「館山海鮮」; the platform's name is 「館山海鮮市場
1号店」. Both sides are folded the same way — NFKC (full/half width), ASCII lower case, spaces
removed, hiragana to katakana — and the folded name is a generated column of ``coupons_store``
with a trigram GIN index (pg_trgm), so "part of the name" is an index scan over 100,000 stores,
not a scan of them. PostgreSQL computes the column, so the importer writes nothing more.
"""

from __future__ import annotations

import unicodedata

# Hiragana ぁ (U+3041) .. ゖ (U+3096) map one to one onto katakana ァ (U+30A1) .. ヶ (U+30F6).
HIRAGANA = "".join(chr(code) for code in range(0x3041, 0x3097))
KATAKANA = "".join(chr(code + 0x60) for code in range(0x3041, 0x3097))
ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_LOWER = ASCII_UPPER.lower()
# Spaces of both widths disappear after NFKC (U+3000 becomes U+0020); tabs and the middle dot
# people type or omit at will.
DROPPED = " \t・･"

_TABLE = str.maketrans(HIRAGANA + ASCII_UPPER, KATAKANA + ASCII_LOWER, DROPPED)


def fold_store_name(text: str) -> str:
    """The search form of a store name (the Python twin of :data:`SQL_FOLD`)."""
    return unicodedata.normalize("NFKC", text).translate(_TABLE)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# The SQL twin, as a template for a generated column (immutable functions only: normalize and
# translate are; lower() is avoided because its result depends on the collation).
SQL_FOLD = (
    "translate(normalize(%(expressions)s, NFKC), "
    + _sql_literal(HIRAGANA + ASCII_UPPER + DROPPED)
    + ", "
    + _sql_literal(KATAKANA + ASCII_LOWER)
    + ")"
)
