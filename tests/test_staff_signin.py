"""Staff sign-in over HTTP: password, then a second factor (enrolment on first login), lock-outs by
user and by address before any password check, supervisors' unlock, idle and absolute timeouts."""

from __future__ import annotations

import io

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff.roles import Role, has_role
from tests.staff import login_verified, make_staff

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
SECOND = "/admin/second-factor/"


def _password(client: Client, username: str, password: str = "pw-staff-2023", **extra):
    return client.post(LOGIN + "?next=/admin/", {"username": username, "password": password}, **extra)


def _code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def _every_url_path() -> list[str]:
    """Every URL the project serves, with each parameter filled with a sample value."""
    paths: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + route)
            elif isinstance(entry, URLPattern):
                paths.append(prefix + route)

    walk(get_resolver().url_patterns, "")
    import re

    filled = set()
    for raw in paths:
        path = re.sub(r"<(?:\w+:)?(\w+)>", "1", raw).lstrip("^").rstrip("$")
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path).replace("\\", "")
        filled.add("/" + path)
    return sorted(filled)


def test_a_password_alone_reaches_no_staff_page(client) -> None:
    # Given an operations user who gave the right password but no second factor
    user = make_staff(Role.OPERATIONS)
    response = _password(client, user.username)
    assert response.status_code == 302
    assert response["Location"].startswith(SECOND)

    # When they open every URL of the project, and so does an anonymous visitor
    anonymous = Client()
    differences = []
    for path in _every_url_path():
        if path.startswith(("/admin/login", "/admin/logout", SECOND, "/static/")):
            continue
        theirs, visitor = client.get(path), anonymous.get(path)
        if theirs.status_code != visitor.status_code or theirs.get("Location") != visitor.get("Location"):
            differences.append((path, theirs.status_code, visitor.status_code))

    # Then they see exactly what a visitor sees: the login page instead of every staff page
    assert differences == []
    assert client.get("/admin/").status_code == 302
    assert client.get(reverse("admin:coupons_coupon_changelist"))["Location"].startswith(LOGIN)
    # and the login page sends them on to the second factor
    assert client.get(LOGIN)["Location"].startswith(SECOND)


def test_first_login_enrols_an_authenticator_app_from_a_qr_code(client) -> None:
    user = make_staff(Role.AGENT, username="newagent")
    TOTPDevice.objects.filter(user=user).delete()  # never enrolled

    _password(client, "newagent")
    page = client.get(SECOND + "?next=/admin/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "認証アプリの登録" in html
    # The QR code is drawn on the server, inline SVG: no script or external image needed
    qr = html.split('class="staff-qr"', 1)[1].split("</div>", 1)[0]
    assert "<svg" in qr
    assert "<path" in qr
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed

    clock = time_machine.travel("2026-01-05 09:00 +09:00", tick=True)
    clock.start()
    wrong = client.post(
        SECOND, {"token": "000000" if _code(device) != "000000" else "111111", "next": "/admin/"}
    )
    assert wrong.status_code == 400
    assert "確認コードが正しくありません" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/admin/").status_code == 302

    # A full-width code typed from a Japanese IME is accepted (after the throttle's pause)
    clock.stop()
    code = _code(device).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    right = client.post(SECOND, {"token": code, "next": "/admin/"})
    assert right.status_code == 302
    assert right["Location"] == "/admin/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200

    # The next login asks for a code, it does not enrol again
    other = Client()
    _password(other, "newagent")
    assert "確認コードの入力" in other.get(SECOND).content.decode()
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_a_break_glass_static_code_signs_in_once(client) -> None:
    make_staff(Role.SUPERVISOR)
    out = io.StringIO()
    call_command("addstatictoken", "supervisor", stdout=out)
    token = out.getvalue().strip()

    _password(client, "supervisor")
    response = client.post(SECOND, {"token": token})
    assert response.status_code == 302, response.content.decode()
    assert client.get("/admin/").status_code == 200

    again = Client()
    _password(again, "supervisor")
    assert again.post(SECOND, {"token": token}).status_code == 400
    assert not StaticToken.objects.filter(token=token).exists()


def test_a_locked_out_address_gets_no_password_check(client, monkeypatch, settings) -> None:
    make_staff(Role.AGENT)
    checked: list[str] = []
    original = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return original(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)

    # Given five failures from one address, each for a different user name (the fifth locks)
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _password(client, f"guess{n}", "wrong", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert _password(client, "guess-last", "wrong", REMOTE_ADDR="203.0.113.9").status_code == 429
    assert len(checked) == settings.AXES_FAILURE_LIMIT

    # When the right password of a real user comes from that address
    locked = _password(Client(), "agent", REMOTE_ADDR="203.0.113.9")

    # Then the password is never checked, and the page says why in Japanese
    assert len(checked) == settings.AXES_FAILURE_LIMIT
    assert locked.status_code == 429
    assert "ログインを一時的に止めています" in locked.content.decode()
    # Another address is not locked out
    assert _password(Client(), "agent", REMOTE_ADDR="198.51.100.7").status_code == 302


def test_a_user_name_is_locked_out_from_any_address(settings) -> None:
    make_staff(Role.AGENT)
    for n in range(settings.AXES_FAILURE_LIMIT):
        _password(Client(), "agent", "wrong", REMOTE_ADDR=f"203.0.113.{n + 1}")

    response = _password(Client(), "agent", REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 429


def test_a_supervisor_unlocks_and_an_agent_cannot(settings) -> None:
    make_staff(Role.AGENT)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _password(Client(), "agent", "wrong", REMOTE_ADDR="203.0.113.9")
    assert AccessAttempt.objects.exists()
    url = reverse("admin:staff_loginlockout_changelist")
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]

    agent = login_verified(Client(), make_staff(Role.AGENT, username="agent2"))
    agent.post(url, {"action": "unlock", "_selected_action": ids})
    assert AccessAttempt.objects.count() == len(ids)

    supervisor = login_verified(Client(), make_staff(Role.SUPERVISOR))
    page = supervisor.get(url).content.decode()
    assert "選んだロックを解除する" in page
    supervisor.post(url, {"action": "unlock", "_selected_action": ids})

    assert not AccessAttempt.objects.exists()
    assert _password(Client(), "agent", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_an_idle_session_ends_after_30_minutes() -> None:
    with time_machine.travel("2026-01-05 09:00 +09:00", tick=False) as clock:
        client = login_verified(Client(), make_staff(Role.AGENT))
        assert client.get("/admin/").status_code == 200
        clock.shift(29 * 60)
        assert client.get("/admin/").status_code == 200  # activity keeps it alive
        clock.shift(29 * 60)
        assert client.get("/admin/").status_code == 200
        clock.shift(31 * 60)
        response = client.get("/admin/")
        assert response.status_code == 302
        login_page = client.get(response["Location"]).content.decode()
        assert "ログアウトしました" in login_page


def test_a_session_ends_12_hours_after_login_however_active() -> None:
    with time_machine.travel("2026-01-05 09:00 +09:00", tick=False) as clock:
        client = login_verified(Client(), make_staff(Role.AGENT))
        for _ in range(12 * 3):  # a page every 20 minutes, up to exactly 12 hours
            clock.shift(20 * 60)
            assert client.get("/admin/").status_code == 200
        clock.shift(60)
        assert client.get("/admin/").status_code == 302


def test_has_role_superuser_holds_every_role_and_others_only_theirs() -> None:
    admin = make_staff(None)
    auditor = make_staff(Role.AUDITOR)
    assert all(has_role(admin, role) for role in Role)
    assert [role for role in Role if has_role(auditor, role)] == [Role.AUDITOR]
    auditor.is_active = False
    auditor._staff_group_names = None
    assert not has_role(auditor, Role.AUDITOR)
    assert not has_role(AnonymousUser(), Role.AGENT)


def test_roles_are_groups_with_japanese_names_and_least_privilege() -> None:
    from django.contrib.auth.models import Group, Permission

    names = set(Group.objects.values_list("name", flat=True))
    assert {"コールセンター担当", "コールセンター責任者", "運営事務局", "支払承認者", "監査"} <= names
    auditor = Group.objects.get(name="監査")
    assert auditor.permissions.exclude(codename__startswith="view_").count() == 0
    secrets = {"view_totpdevice", "view_staticdevice", "view_statictoken", "view_session"}
    every_view = Permission.objects.filter(codename__startswith="view_").exclude(codename__in=secrets)
    assert set(auditor.permissions.all()) == set(every_view)
    agent = set(Group.objects.get(name="コールセンター担当").permissions.values_list("codename", flat=True))
    assert "add_importrun" not in agent
    assert "change_incident" not in agent
