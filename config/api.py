"""API error handler: every error leaves the API in the contract's one shape (public-api.md).

Input a person can correct: ``400 {"errors": {"<field>": ["<sentence>"]}}`` (dotted paths for
nested fields). Anything else: ``{"message": "<sentence>"}`` with the status code; a 429 carries
``Retry-After``. Never a stack trace or an internal id. Sentences are Japanese, English with
``Accept-Language: en``.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

_MESSAGES: dict[int, tuple[str, str]] = {
    400: (
        "送られた内容を読み取れませんでした。JSON で送ってください。",
        "The request could not be read. Send JSON.",
    ),
    401: ("ログインが必要です。", "Please log in."),
    403: ("この操作は許可されていません。", "This is not allowed."),
    404: ("お探しのものは見つかりません。", "Not found."),
    405: ("この方法では送れません。", "This method is not allowed here."),
    406: ("この形式では応答できません。", "This format cannot be served."),
    415: (
        "JSON（Content-Type: application/json）で送ってください。",
        "Send JSON (Content-Type: application/json).",
    ),
    429: (
        "短い時間に続けてご利用いただいたため、受付を一時的に止めています。しばらくしてからもう一度お試しください。",
        "Too many requests in a short time. Please try again a little later.",
    ),
}


def _sentence(status_code: int) -> str:
    ja, en = _MESSAGES.get(status_code, ("エラーが発生しました。", "Something went wrong."))
    return en if (translation.get_language() or "ja").startswith("en") else ja


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as the contract's dotted field paths."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "non_field_errors" if key in {"non_field_errors", "detail"} and not prefix else key
            flat.update(_flatten(value, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(detail, list) and detail and all(not isinstance(item, dict | list) for item in detail):
        return {prefix or "non_field_errors": [str(item) for item in detail]}
    if isinstance(detail, list):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler, which shows no trace in production
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"errors": _flatten(exc.detail)}
    else:
        response.data = {"message": _sentence(response.status_code)}
    return response
