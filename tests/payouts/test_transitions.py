"""The payout's one transition authority: the declared table, the service, the database's copy."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from payouts.models import BANK_STATUSES, POINTS_STATUSES, Payout, PayoutStatusChange
from payouts.services.transitions import (
    INITIAL,
    PAYOUT_TRANSITIONS,
    PayoutTransitionError,
    payout_transition,
)
from tests.payouts.conftest import payout_in

pytestmark = pytest.mark.django_db

STATUSES = [s.value for s in Payout.Status]
# A status with the brand its CHECK asks for (a brand from the choice on).
SET_STATUS = """UPDATE payouts_payout SET status = %s,
                  brand = CASE WHEN %s IN ('chosen', 'ordered', 'delivered') THEN 'amazon' ELSE '' END
                WHERE id = %s"""


def test_the_table_stays_within_each_method() -> None:
    # Every declared move keeps the method: a points payout never becomes a transfer by accident.
    for from_status, targets in PAYOUT_TRANSITIONS.items():
        family = POINTS_STATUSES if from_status in POINTS_STATUSES else BANK_STATUSES
        assert targets <= set(family), from_status
    assert set(POINTS_STATUSES) | set(BANK_STATUSES) == set(STATUSES)


def test_the_service_moves_the_payout_and_records_the_actor(incident) -> None:
    # Given a points payout whose link went out, and an operations user
    payout = payout_in(incident, "link_sent")
    staff = User.objects.create_user("ops")
    # When the choice is recorded with the brand
    moved = payout_transition(payout, "chosen", actor=staff, note="受取サイト", changes={"brand": "paypay"})
    # Then the row and the caller's instance are chosen/paypay, with one change naming the actor
    assert (moved.status, moved.brand) == ("chosen", "paypay")
    assert (payout.status, payout.brand) == ("chosen", "paypay")
    fresh = Payout.objects.get(pk=payout.pk)
    assert (fresh.status, fresh.brand) == ("chosen", "paypay")
    change = PayoutStatusChange.objects.get(payout=payout)
    assert (change.from_status, change.to_status, change.actor, change.note) == (
        "link_sent",
        "chosen",
        staff,
        "受取サイト",
    )


def test_a_system_move_by_id_has_no_actor(incident) -> None:
    payout = payout_in(incident, "awaiting_bank_details")
    payout_transition(payout.pk, "ready")
    change = PayoutStatusChange.objects.get(payout=payout)
    assert (change.from_status, change.to_status, change.actor) == ("awaiting_bank_details", "ready", None)


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (a, b)
        for a, b in itertools.permutations(STATUSES, 2)
        if b not in PAYOUT_TRANSITIONS.get(a, frozenset())
    ],
)
def test_a_refused_move_names_the_current_state_and_changes_nothing(incident, from_status, to_status) -> None:
    # Given a payout in from_status
    payout = payout_in(incident, from_status)
    before = Payout.objects.values().get(pk=payout.pk)
    # When a move the table does not declare is asked for
    with pytest.raises(PayoutTransitionError) as refused:
        payout_transition(payout, to_status, note="x")
    # Then the Japanese message names the current state, and nothing changed
    assert f"「{Payout.Status(from_status).label}」から" in str(refused.value)
    assert "には変更できません" in str(refused.value)
    assert Payout.objects.values().get(pk=payout.pk) == before
    assert payout.status == from_status
    assert not PayoutStatusChange.objects.exists()


def test_a_move_to_an_unknown_status_is_refused_and_changes_nothing(points_payout) -> None:
    with pytest.raises(PayoutTransitionError):
        payout_transition(points_payout, "paid")
    assert Payout.objects.get(pk=points_payout.pk).status == "created"
    assert not PayoutStatusChange.objects.exists()


def test_the_whole_points_path_and_the_whole_bank_path_are_declared(incident) -> None:
    points = payout_in(incident, "created")
    for to, changes in [("link_sent", {}), ("chosen", {"brand": "edy"}), ("ordered", {}), ("delivered", {})]:
        payout_transition(points, to, changes=changes)
    bank = payout_in(incident, "awaiting_bank_details")
    for to in ["ready", "in_batch", "approved", "transferred", "returned", "awaiting_bank_details", "ready"]:
        payout_transition(bank, to)
    assert list(PayoutStatusChange.objects.filter(payout=points).values_list("to_status", flat=True)) == [
        "link_sent",
        "chosen",
        "ordered",
        "delivered",
    ]
    assert PayoutStatusChange.objects.filter(payout=bank).count() == 7
    assert Payout.objects.get(pk=bank.pk).status == "ready"


def test_a_check_constraint_refuses_a_chosen_payout_without_a_brand(points_payout) -> None:
    payout_transition(points_payout, "link_sent")
    with pytest.raises(IntegrityError), transaction.atomic():
        payout_transition(points_payout, "chosen")
    assert Payout.objects.get(pk=points_payout.pk).status == "link_sent"
    assert PayoutStatusChange.objects.filter(payout=points_payout).count() == 1


@pytest.mark.parametrize("status", STATUSES)
def test_the_database_lets_a_payout_start_only_in_a_declared_initial_status(incident, status) -> None:
    payout = payout_in(incident, status)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM payouts_payout WHERE id = %s", [payout.pk])
        insert = """INSERT INTO payouts_payout
                      (entitlement_id, incident_id, inquiry_number, method, amount_yen, status,
                       application_id, bank_account_id, contact_channel, contact, brand,
                       created_at, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s, NULL, %s, '', '', %s, now(), now())"""
        params = [
            payout.entitlement_id,
            incident.pk,
            payout.inquiry_number,
            payout.method,
            payout.amount_yen,
            status,
            payout.bank_account_id,
            payout.brand,
        ]
    if status in INITIAL:
        with connection.cursor() as cursor:
            cursor.execute(insert, params)
        assert Payout.objects.get(entitlement_id=payout.entitlement_id).status == status
    else:
        with (
            pytest.raises(IntegrityError, match="may not start"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(insert, params)
        assert not Payout.objects.exists()


def test_raw_sql_can_make_exactly_the_moves_the_transitions_table_declares(incident) -> None:
    """Every pair of statuses of one method, by an UPDATE outside the service: the trigger and the
    Python table agree (a change of PAYOUT_TRANSITIONS without a migration fails here)."""
    for family in (POINTS_STATUSES, BANK_STATUSES):
        payout = payout_in(incident, family[0])
        for from_status, to_status in itertools.permutations(family, 2):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute(SET_STATUS, [from_status, from_status, payout.pk])
                cursor.execute("SET LOCAL session_replication_role = origin")
            update = (SET_STATUS, [to_status, to_status, payout.pk])
            if to_status in PAYOUT_TRANSITIONS.get(from_status, frozenset()):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(*update)
                assert Payout.objects.get(pk=payout.pk).status == to_status, (from_status, to_status)
            else:
                with (
                    pytest.raises(IntegrityError, match="not a declared transition"),
                    transaction.atomic(),
                    connection.cursor() as cursor,
                ):
                    cursor.execute(*update)
                assert Payout.objects.get(pk=payout.pk).status == from_status, (from_status, to_status)


def test_one_payout_per_entitlement_and_per_coupon(incident, points_payout) -> None:
    from claims.models import Entitlement

    with pytest.raises(IntegrityError, match="entitlement_id"), transaction.atomic():
        Payout.objects.create(
            entitlement=points_payout.entitlement,
            incident=incident,
            inquiry_number="OTHER",
            method="points",
            amount_yen=1,
            status="created",
            created_at=points_payout.created_at,
            updated_at=points_payout.created_at,
        )
    # (Another group of the same coupon: the entitlements allow only one payable, this is the
    # payouts' own last line of defence should an entitlement ever be re-decided.)
    other = Entitlement.objects.create(
        incident=incident,
        coupon=points_payout.entitlement.coupon,
        category="2-2",
        route="callcenter",
        status="found",
        amount_yen=300,
        found_at=points_payout.created_at,
    )
    with pytest.raises(IntegrityError, match="payout_once_per_coupon"), transaction.atomic():
        Payout.objects.create(
            entitlement=other,
            incident=incident,
            inquiry_number=points_payout.inquiry_number,
            method="points",
            amount_yen=1,
            status="created",
            created_at=points_payout.created_at,
            updated_at=points_payout.created_at,
        )
    assert Payout.objects.count() == 1


def test_the_incident_carries_the_payout_dates(incident) -> None:
    import datetime as dt

    assert (incident.links_from, incident.receipt_deadline, incident.transfers_from) == (
        dt.date(2023, 4, 3),
        dt.date(2023, 5, 31),
        dt.date(2023, 5, 15),
    )
