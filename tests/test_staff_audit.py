"""The audit trail: database triggers keep every write to the tracked tables — raw SQL included —
with the staff user and the request that made it; the audit page shows it to auditors and
supervisors only, filtered by person, object and day."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from pghistory.models import Events

from claims.models import Entitlement
from staff.audit import JST
from staff.roles import Role
from tests.factories import CouponFactory, MovementFactory, StoreFactory, jst
from tests.staff import login_verified, make_staff

pytestmark = pytest.mark.django_db
AUDIT = "/admin/audit/"


@pytest.fixture
def entitlement(monkeypatch) -> Entitlement:
    store = StoreFactory()
    coupon = CouponFactory(inquiry_number="CB0000000022", expires_on=dt.date(2023, 3, 3))
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    for movement_id, second in (("MD1", 0), ("MD2", 40)):
        MovementFactory(
            movement_id=movement_id,
            coupon=coupon,
            kind="payment",
            amount_yen=-1000,
            store=store,
            occurred_at=jst(2023, 2, 24, 18, 0, second),
        )
    monkeypatch.setenv("PORTAL_NOW", "2023-04-10T10:00:00+09:00")
    call_command("run_eligibility", stdout=io.StringIO())
    return Entitlement.objects.get(coupon=coupon)


def test_a_raw_sql_update_of_an_entitlement_appears_in_the_audit_trail(entitlement) -> None:
    # The engine's own insert is already there (a set-based INSERT … SELECT)
    assert Events.objects.tracks(entitlement).filter(pgh_label="insert").count() == 1

    with connection.cursor() as cursor:
        cursor.execute("UPDATE claims_entitlement SET amount_yen = 999 WHERE id = %s", [entitlement.pk])

    (event,) = Events.objects.tracks(entitlement).filter(pgh_label="update")
    assert event.pgh_diff["amount_yen"] == [entitlement.amount_yen, 999]
    assert event.pgh_context is None  # no request: the page says so (システム・直接の操作)


def test_a_rejection_on_the_page_is_kept_with_the_agent_and_the_url(entitlement) -> None:
    agent = make_staff(Role.AGENT)
    client = login_verified(Client(), agent)

    client.post(
        reverse("admin:claims_entitlement_reject", args=[entitlement.pk]), {"reason": "店舗記録では1回"}
    )

    entitlement.refresh_from_db()
    assert entitlement.status == "rejected"
    event = Events.objects.tracks(entitlement).filter(pgh_label="update").get()
    assert event.pgh_context["user"] == agent.pk
    assert event.pgh_context["url"] == reverse("admin:claims_entitlement_reject", args=[entitlement.pk])
    assert event.pgh_diff["status"][1] == "rejected"


def test_staff_permissions_are_audited_users_groups_and_memberships() -> None:
    admin = make_staff(None)
    client = login_verified(Client(), admin)
    agent = make_staff(Role.AGENT, username="newagent")
    agent.groups.add(Group.objects.get(name=Role.SUPERVISOR.label))  # a promotion, by the ORM
    client.post(
        reverse("admin:auth_user_change", args=[agent.pk]),
        {"username": "newagent", "is_active": "on", "is_staff": "on", "groups": [], "last_login_0": ""},
    )

    models = set(Events.objects.values_list("pgh_obj_model", flat=True))
    assert {"auth.User", "auth.User_groups"} <= models
    assert not any("password" in (e.pgh_data or {}) for e in Events.objects.filter(pgh_obj_model="auth.User"))


def test_the_audit_page_is_for_auditors_and_supervisors_and_filters(entitlement) -> None:
    agent = make_staff(Role.AGENT)
    # the trail's times are the database's clock (NOW() in the trigger), not time-machine's
    login_verified(Client(), agent).post(
        reverse("admin:claims_entitlement_reject", args=[entitlement.pk]), {"reason": "記録なし"}
    )

    assert login_verified(Client(), agent).get(AUDIT).status_code == 403
    assert login_verified(Client(), make_staff(Role.OPERATIONS)).get(AUDIT).status_code == 403
    assert login_verified(Client(), make_staff(Role.SUPERVISOR)).get(AUDIT).status_code == 200
    auditor = login_verified(Client(), make_staff(Role.AUDITOR))
    index = auditor.get("/admin/").content.decode()
    assert "監査ログ" in index

    by_person = auditor.get(AUDIT, {"user": agent.pk}).content.decode()
    assert "該当（確認待ち） → 対象外と判断" in by_person  # the status, in words
    today = dt.datetime.now(tz=JST).date()
    assert today.strftime("%Y/%m/%d") in by_person  # Japan time
    by_object = auditor.get(
        AUDIT, {"model": "claims.Entitlement", "object_id": entitlement.pk}
    ).content.decode()
    assert "対象外と判断" in by_object
    assert "作成" in by_object  # the engine's insert too
    other_day = auditor.get(
        AUDIT, {"user": agent.pk, "day": (today + dt.timedelta(days=1)).isoformat()}
    ).content.decode()
    assert "対象外と判断" not in other_day
    same_day = auditor.get(AUDIT, {"user": agent.pk, "day": today.isoformat()}).content.decode()
    assert "対象外と判断" in same_day
    nobody = auditor.get(AUDIT, {"user": make_staff(Role.APPROVER).pk}).content.decode()
    assert "条件に合う記録はありません" in nobody
