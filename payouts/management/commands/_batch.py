"""What the transfer-batch commands share: the person named by --by, the incident, the batch id."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from claims.models import Incident


def user_named(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"ユーザー {username} はいません。")
    if not user.is_active:
        raise CommandError(f"ユーザー {username} は無効になっています。")
    return user


def incident_named(code: str | None) -> Incident:
    incidents = Incident.objects.filter(code=code) if code else Incident.objects.all()
    if incidents.count() != 1:
        raise CommandError(
            "障害を --incident CODE で指定してください。" if not code else f"障害 {code} はありません。"
        )
    return incidents.get()


def batch_number(value: str) -> int:
    text = value.strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise CommandError(f"振込バッチの番号は数字で指定してください（{value!r}）。")
    return int(text)
