"""Template helpers of the call desk's pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def person(user) -> str:
    """A staff member as colleagues say it: family name first (佐藤 花子), else the login name."""
    if user is None:
        return ""
    full = f"{user.last_name} {user.first_name}".strip()
    return full or user.username
