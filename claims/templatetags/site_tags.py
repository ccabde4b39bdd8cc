"""Small presentation helpers of the travellers' site."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import translation
from django.utils.dateformat import format as date_format

register = template.Library()

JST_FORMATS = {
    # Japanese readers expect the weekday in brackets: 4月10日（月）
    "ja": {"day": "Y年n月j日（D）", "short": "n月j日（D）", "time": "G:i", "daytime": "n月j日（D）G:i"},
    "en": {"day": "l j F Y", "short": "D j M", "time": "G:i", "daytime": "D j M, G:i"},
}


def _formats() -> dict[str, str]:
    return JST_FORMATS.get((translation.get_language() or "ja")[:2], JST_FORMATS["ja"])


@register.filter
def site_date(value: dt.date | dt.datetime | None, style: str = "day") -> str:
    """A date (or an aware instant, shown in Japan time) in the reader's language."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        from django.utils import timezone

        value = timezone.localtime(value)
    return date_format(value, _formats()[style])


@register.filter
def yen(value: int | None) -> str:
    if value is None:
        return ""
    amount = f"{value:,}"
    if (translation.get_language() or "ja").startswith("en"):
        return f"¥{amount}"
    return f"{amount}円"


@register.inclusion_tag("site/_field.html")
def field(bound_field, kind: str = "input", width: str = "") -> dict:
    """One form field the GOV.UK / デジタル庁 way: label, 「必須」, hint, error, input."""
    described = []
    if bound_field.help_text:
        described.append(f"{bound_field.auto_id}-hint")
    if bound_field.errors:
        described.append(f"{bound_field.auto_id}-error")
    attrs = {"class": f"input {width}".strip()}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if bound_field.errors:
        attrs["aria-invalid"] = "true"
    widget = bound_field.as_widget(attrs=attrs) if kind != "choices" else ""
    return {"f": bound_field, "kind": kind, "widget": widget}


@register.simple_tag
def error_target(bound_field) -> str:
    """The id the error summary links to: the input, or a radio group's first option."""
    widget = bound_field.field.widget
    if getattr(widget, "input_type", "") in {"radio", "checkbox"} and hasattr(widget, "choices"):
        return f"{bound_field.auto_id}_0"
    return bound_field.auto_id


@register.simple_tag
def call_center_now() -> object:
    """The call center's "open now / opens at" on the portal clock, for any page."""
    from claims.site.hours import call_center_status
    from config import clock

    return call_center_status(clock.now())
