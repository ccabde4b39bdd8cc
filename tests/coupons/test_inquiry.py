"""Inquiry-number normalisation: the Python rule and its SQL twin ``regionpay_inquiry`` agree.

Contract: full-width to half-width, letters upper-cased, spaces and hyphens removed; valid when the
result is 1-32 characters of A-Z0-9. The importer uses the SQL side, forms and agents the Python side.
"""

from __future__ import annotations

import string

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coupons.inquiry import is_valid, normalize_inquiry_number
from coupons.models import INQUIRY_NUMBER_PATTERN

pytestmark = pytest.mark.django_db

FULL_WIDTH = (
    [chr(c) for c in range(0xFF10, 0xFF1A)]  # ０-９
    + [chr(c) for c in range(0xFF21, 0xFF3B)]  # Ａ-Ｚ
    + [chr(c) for c in range(0xFF41, 0xFF5B)]  # ａ-ｚ
)
SPACES = [" ", "\t", "\u3000", "\u00a0"]
HYPHENS = ["-", "‐", "‑", "‒", "–", "—", "―", "−", "ー", "ｰ", "－"]
KANA_KANJI = ["お", "問", "合", "番", "号", "ク", "ｶ", "ﾞ", "館", "①", "Ⅻ", "ﬁ", "ß", "é"]
ALPHABET = [*string.ascii_letters, *string.digits, *FULL_WIDTH, *SPACES, *HYPHENS, *KANA_KANJI]

inquiry_like = st.text(alphabet=ALPHABET, max_size=40)
# Mostly-valid numbers with noise, so that both valid and invalid results are common.
noisy_numbers = st.builds(
    "".join,
    st.lists(
        st.one_of(
            st.sampled_from([*string.ascii_uppercase, *string.digits]),
            st.sampled_from([*string.ascii_lowercase, *FULL_WIDTH]),
            st.sampled_from([*SPACES, *HYPHENS]),
        ),
        min_size=0,
        max_size=40,
    ),
)


def sql_normalise(values: list[str]) -> list[tuple[str, bool]]:
    """(regionpay_inquiry(v), regionpay_inquiry(v) ~ the model's pattern) for each v, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT regionpay_inquiry(v), regionpay_inquiry(v) ~ %s "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [INQUIRY_NUMBER_PATTERN, values],
        )
        return [(normalised, bool(valid)) for normalised, valid in cursor.fetchall()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(inquiry_like, noisy_numbers), min_size=1, max_size=20))
def test_python_and_sql_normalisation_agree_on_every_text(values) -> None:
    # Given texts of letters, digits, full-width forms, spaces, hyphen look-alikes and kana/kanji
    # When both the Python rule and the SQL function normalise them
    in_python = [(normalize_inquiry_number(v), is_valid(normalize_inquiry_number(v))) for v in values]
    in_sql = sql_normalise(values)

    # Then the results and their validity are the same
    assert in_python == in_sql


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
        min_size=1,
        max_size=20,
    )
)
def test_python_and_sql_normalisation_agree_on_arbitrary_unicode(values) -> None:
    # Given arbitrary Unicode text (no NUL, which PostgreSQL text cannot hold)
    # When both sides normalise it
    # Then they agree
    assert [
        (normalize_inquiry_number(v), is_valid(normalize_inquiry_number(v))) for v in values
    ] == sql_normalise(values)


@given(raw=inquiry_like)
def test_normalising_twice_changes_nothing(raw) -> None:
    # Given any text
    # When it is normalised twice
    once = normalize_inquiry_number(raw)

    # Then the second pass is a no-op
    assert normalize_inquiry_number(once) == once


@given(raw=inquiry_like)
def test_a_valid_result_is_only_ascii_upper_case_letters_and_digits(raw) -> None:
    # Given any text
    # When it is normalised and found valid
    normalised = normalize_inquiry_number(raw)

    # Then it has 1-32 characters of A-Z0-9 (and an invalid one does not)
    assert is_valid(normalised) == (
        1 <= len(normalised) <= 32 and all(c in string.ascii_uppercase + string.digits for c in normalised)
    )


EXAMPLES = [
    ("ｃｂ－0000 0001", "CB00000001", True),
    ("cb-0000-0001", "CB00000001", True),
    ("ＣＢ０００００００１", "CB00000001", True),
    ("CB 0000\u30000001", "CB00000001", True),
    ("cb\t0000ｰ0001", "CB00000001", True),
    ("CB—0000―0001", "CB00000001", True),
    ("cb‐0000‑0001−", "CB00000001", True),
    ("  cb0000 0001  ", "CB00000001", True),
    ("CB00000001", "CB00000001", True),
    ("1", "1", True),
    ("A" * 32, "A" * 32, True),
    ("a-" * 32, "A" * 32, True),
    ("A" * 33, "A" * 33, False),
    ("", "", False),
    (" - ー ", "", False),
    ("CB#0001", "CB#0001", False),
    ("CB_0001", "CB_0001", False),
    ("お問合せ番号", "お問合せ番号", False),
    ("CB0001\n", "CB0001\n", False),
    ("①②", "12", True),
    ("ß1", "ß1", False),
]


@pytest.mark.parametrize(("raw", "normalised", "valid"), EXAMPLES)
def test_concrete_inquiry_numbers_normalise_as_the_contract_says(raw, normalised, valid) -> None:
    # Given an inquiry number as a traveller, agent or platform file may write it
    # When it is normalised in Python and in SQL
    in_python = normalize_inquiry_number(raw)
    [in_sql] = sql_normalise([raw])

    # Then both give the expected result and validity
    assert (in_python, is_valid(in_python)) == (normalised, valid)
    assert in_sql == (normalised, valid)


def test_the_sql_function_gives_null_for_null() -> None:
    # Given a NULL inquiry number (an empty optional CSV cell)
    # When it is normalised in SQL
    with connection.cursor() as cursor:
        cursor.execute("SELECT regionpay_inquiry(NULL)")
        result = cursor.fetchone()[0]

    # Then the result is NULL, not an error and not ''
    assert result is None
