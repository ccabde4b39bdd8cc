"""Japanese mobile numbers: the only numbers an SMS may go to.

Mobile numbers start 070, 080 or 090, and 060, which 総務省 opened to mobile phones as the other
three run out. Travellers type numbers in every shape: full-width digits, hyphens of several
kinds, spaces, brackets, +81 or 81. ``normalize`` reduces a number to its national digits.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー－().（）]")
_MOBILE = re.compile(r"0[6789]0[0-9]{8}")


class NotAMobileNumber(ValueError):
    """An SMS was asked for a number that cannot receive one. ``str()`` is a sentence for the user."""

    def __init__(self) -> None:
        super().__init__(
            "SMSは携帯電話の番号（060・070・080・090で始まる11桁）にのみ送れます。"
            "固定電話の番号には送れません。"
        )


def national_digits(number: str) -> str:
    """The number's national digits (``09012345678``), or whatever digits remain if it is odd."""
    text = unicodedata.normalize("NFKC", number or "").strip()
    text = _SEPARATORS.sub("", text)
    if text.startswith("+81"):
        text = "0" + text[3:]
    elif text.startswith("0081"):
        text = "0" + text[4:]
    elif text.startswith("81") and len(text) == 12:
        text = "0" + text[2:]
    return text


def is_mobile(number: str) -> bool:
    """True when ``number`` (any shape typed) is a Japanese mobile number: 060/070/080/090 + 8 digits."""
    return bool(_MOBILE.fullmatch(national_digits(number)))


def mobile_e164(number: str) -> str:
    """``+819012345678`` for a mobile number; raises ``NotAMobileNumber`` otherwise."""
    digits = national_digits(number)
    if not _MOBILE.fullmatch(digits):
        raise NotAMobileNumber()
    return "+81" + digits[1:]


def mask(recipient: str) -> str:
    """A recipient shown to staff in lists: ``090-****-5678`` or ``ta***@example.jp``."""
    if "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:2]}***@{domain}"
    digits = national_digits(recipient)
    if len(digits) >= 8:
        return f"{digits[:3]}-****-{digits[-4:]}"
    return "***"
