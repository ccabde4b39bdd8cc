from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.phones import NotAMobileNumber, is_mobile, mask, mobile_e164


@pytest.mark.parametrize(
    "number",
    [
        "09012345678",
        "090-1234-5678",
        "080 1234 5678",
        "070(1234)5678",
        "０６０－１２３４－５６７８",
        "+81 90-1234-5678",
        "+819012345678",
        "819012345678",
        "0081-80-1234-5678",
        "090ー1234ー5678",
    ],
)
def test_mobile_numbers_in_any_shape_are_mobile(number: str) -> None:
    assert is_mobile(number)


@pytest.mark.parametrize(
    "number",
    [
        "03-1234-5678",  # Tokyo landline
        "0470-22-1234",  # Tateyama landline
        "0120-479-249",  # the call center's free dial
        "050-1234-5678",  # IP phone
        "020-1234-5678",  # pagers / M2M
        "0901234567",  # a digit short
        "090123456789",  # a digit too many
        "",
        "090-1234-567a",
    ],
)
def test_other_numbers_are_not_mobile(number: str) -> None:
    assert not is_mobile(number)
    with pytest.raises(NotAMobileNumber, match="携帯電話"):
        mobile_e164(number)


separators = st.sampled_from(["", "-", " ", "－", "‐", "ー"])


@given(
    prefix=st.sampled_from(["060", "070", "080", "090"]),
    middle=st.text("0123456789", min_size=4, max_size=4),
    last=st.text("0123456789", min_size=4, max_size=4),
    sep1=separators,
    sep2=separators,
    full_width=st.booleans(),
)
def test_every_mobile_range_and_shape_gives_one_e164(
    prefix: str, middle: str, last: str, sep1: str, sep2: str, full_width: bool
) -> None:
    typed = f"{prefix}{sep1}{middle}{sep2}{last}"
    if full_width:
        typed = typed.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert is_mobile(typed)
    assert mobile_e164(typed) == f"+81{prefix[1:]}{middle}{last}"


@given(
    area=st.sampled_from(["01", "02", "03", "04", "05", "07", "08", "09"]),
    rest=st.text("0123456789", min_size=8, max_size=8),
)
def test_ten_digit_numbers_are_never_mobile(area: str, rest: str) -> None:
    # Landlines have ten digits; only the 0X0 + 8 digit shape is mobile.
    assert not is_mobile(area + rest)


def test_mask_hides_the_middle() -> None:
    assert mask("+819012345678") == "090-****-5678"
    assert mask("taro.yamada@example.jp") == "ta***@example.jp"
