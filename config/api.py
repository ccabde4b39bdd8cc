"""API error handler: every error leaves the API in one shape, with Japanese-ready messages."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Wrap DRF's errors as ``{"error": {"code", "message", "fields"}}``."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    fields: dict[str, Any] = {}
    message = ""
    if isinstance(detail, dict):
        message = str(detail.pop("detail", "")) if "detail" in detail else ""
        fields = {key: value for key, value in detail.items()}
    elif isinstance(detail, list):
        message = "; ".join(str(item) for item in detail)
    code = getattr(exc, "default_code", "error")
    response.data = {"error": {"code": code, "message": message or str(exc), "fields": fields}}
    return response
