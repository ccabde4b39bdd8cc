"""Staff users for tests: a user in a role, signed in WITH a verified second factor.

Every staff-page test signs in through these helpers (``force_login`` alone leaves the user without
a second factor, and the portal then treats them as a visitor):

    def test_something(staff_client):
        client = staff_client("agent")             # a new Client, signed in, second factor verified
        client.get("/admin/")

    def test_other(client, staff_user):
        user = staff_user("operations")           # the user only (TOTP device confirmed)
        login_verified(client, user)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff.roles import Role


def make_staff(
    role: Role | str | None, *, username: str | None = None, password: str = "pw-staff-2023"
) -> Any:
    """A staff user holding ``role`` (None: a superuser), with a confirmed TOTP device."""
    role = Role(role) if role is not None else None
    users = get_user_model()
    name = username or (role.value if role else "admin")
    user = users.objects.filter(username=name).first()
    if user is None:
        user = users.objects.create_user(
            username=name, password=password, is_staff=True, is_superuser=role is None
        )
    if role is not None:
        user.groups.add(Group.objects.get(name=role.label))
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


def login_verified(client: Client, user: Any) -> Client:
    """Sign ``user`` in on ``client`` as if they had given their password and a TOTP code."""
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def staff_user(db) -> Callable[..., Any]:
    return make_staff


@pytest.fixture
def staff_client(db) -> Callable[..., Client]:
    def signed_in(role: Role | str | None, **kwargs: Any) -> Client:
        return login_verified(Client(), make_staff(role, **kwargs))

    return signed_in


@pytest.fixture
def staff(db) -> dict[str, Any]:
    """One user per role, by role code, plus ``admin`` (a superuser). Not signed in."""
    users = {role.value: make_staff(role) for role in Role}
    users["admin"] = make_staff(None)
    return users
