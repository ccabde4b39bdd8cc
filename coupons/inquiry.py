"""Inquiry numbers (お問合せ番号), normalised as the exchange contract says.

Full-width to half-width (NFKC), Latin letters upper-cased, spaces and hyphens removed; the result
must be 1-32 characters of ``A-Z0-9``. The same rule is applied by the importer inside PostgreSQL
(the SQL function ``regionpay_inquiry``, created by migrations 0002/0003); a property-based test keeps
the two in agreement.
"""

from __future__ import annotations

import re
import unicodedata

# Hyphen look-alikes that survive NFKC (U+2010-2015, U+2212 minus, U+30FC long vowel mark as
# people type it between digit groups), plus spaces and tabs.
SEPARATORS = " \t-‐‑‒–—―−ー"
_SEPARATOR_RE = re.compile("[" + re.escape(SEPARATORS) + "]")
_VALID_RE = re.compile(r"[A-Z0-9]{1,32}")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def normalize_inquiry_number(raw: str) -> str:
    """Return the normalised form of ``raw``; it may still be invalid (see :func:`is_valid`)."""
    return _SEPARATOR_RE.sub("", unicodedata.normalize("NFKC", raw)).translate(_ASCII_UPPER)


def is_valid(normalised: str) -> bool:
    return _VALID_RE.fullmatch(normalised) is not None


# The SQL twin; not STRICT, so that the planner inlines it (a NULL gives NULL all the same).
# Only ASCII letters are upper-cased (PostgreSQL's upper() depends on the collation, Python's on
# Unicode: 'ß' would differ), so both sides agree character for character.
SQL_FUNCTION = r"""
CREATE OR REPLACE FUNCTION regionpay_inquiry(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN raw ~ '^[A-Z0-9]+$' THEN raw ELSE
         translate(
           translate(normalize(raw, NFKC), E' \t-‐‑‒–—―−ー', ''),
           'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') END
$$;
"""
