"""One transition authority: the declared table, the service, and the database's copy of the table."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from claims.models import Entitlement, EntitlementStatusChange, Incident
from claims.services.transitions import INITIAL, TRANSITIONS, TransitionError, entitlement_transition
from tests.factories import CouponFactory, jst

pytestmark = pytest.mark.django_db

STATUSES = [s.value for s in Entitlement.Status]
FINAL_BY_STATUS = {"payable": 500, "used_up": 0}
UPDATE = "UPDATE claims_entitlement SET status = %s, valid_until = %s, final_balance_yen = %s WHERE id = %s"


def _entitlement(incident: Incident, status: str = "found", **fields) -> Entitlement:
    coupon = CouponFactory()
    with connection.cursor() as cursor:
        # Raw SQL, as the engine writes: the database must hold it to the table by itself.
        cursor.execute(
            """INSERT INTO claims_entitlement
                 (incident_id, inquiry_number, category, route, status, cutoff_at, amount_yen,
                  valid_until, final_balance_yen, evidence, needs_review, review_note, found_at)
               VALUES (%s, %s, '2-2', 'callcenter', %s, NULL, 800, %s, %s, '{}', false, '', %s)
               RETURNING id""",
            [
                incident.pk,
                coupon.pk,
                status,
                fields.get("valid_until"),
                fields.get("final_balance_yen"),
                jst(2023, 3, 1),
            ],
        )
        return Entitlement.objects.get(pk=cursor.fetchone()[0])


def _fields_for(status: str) -> dict[str, object]:
    """Values that satisfy the status-dependent CHECKs, so only the trigger can refuse."""
    fields: dict[str, object] = {}
    if status in {"extended", "payable", "used_up", "covered"}:
        fields["valid_until"] = jst(2023, 3, 31, 23, 59, 59)
    if status in FINAL_BY_STATUS:
        fields["final_balance_yen"] = FINAL_BY_STATUS[status]
    return fields


@pytest.mark.parametrize("status", STATUSES)
def test_the_database_lets_an_entitlement_start_only_in_a_declared_initial_status(incident, status) -> None:
    if status in INITIAL:
        _entitlement(incident, status, **_fields_for(status))
        assert Entitlement.objects.filter(status=status).count() == 1
    else:
        with pytest.raises(IntegrityError, match="may not start"), transaction.atomic():
            _entitlement(incident, status, **_fields_for(status))
        assert not Entitlement.objects.exists()


def test_raw_sql_can_make_exactly_the_moves_the_transitions_table_declares(incident) -> None:
    """Every pair of statuses, tried by an UPDATE outside any service: the database's trigger and
    the Python table agree (a change of TRANSITIONS without a migration fails here)."""
    start = _entitlement(incident, "found")
    for from_status, to_status in itertools.permutations(STATUSES, 2):
        with connection.cursor() as cursor:
            # Put the row in from_status behind the trigger's back (replica role skips triggers).
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                UPDATE,
                [
                    from_status,
                    jst(2023, 3, 31, 23, 59, 59),
                    FINAL_BY_STATUS.get(from_status),
                    start.pk,
                ],
            )
            cursor.execute("SET LOCAL session_replication_role = origin")
        fields = _fields_for(to_status)
        update = UPDATE
        params = [
            to_status,
            fields.get("valid_until", jst(2023, 3, 31, 23, 59, 59)),
            fields.get("final_balance_yen"),
            start.pk,
        ]
        declared = to_status in TRANSITIONS.get(from_status, frozenset())
        if declared:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(update, params)
            assert Entitlement.objects.get(pk=start.pk).status == to_status, (from_status, to_status)
        else:
            with (
                pytest.raises(IntegrityError, match="not a declared transition"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(update, params)
            assert Entitlement.objects.get(pk=start.pk).status == from_status, (from_status, to_status)


def test_the_service_moves_locks_and_records_the_actor(incident) -> None:
    # Given a found candidate and an agent
    agent = User.objects.create_user("agent")
    entitlement = _entitlement(incident, "found")
    # When the agent extends it
    moved = entitlement_transition(
        entitlement_id=entitlement.pk, to="extended", actor=agent, note="店舗記録と一致"
    )
    # Then it is extended to the incident's date, with a status change naming the agent
    assert moved.status == "extended"
    assert Entitlement.objects.get(pk=entitlement.pk).valid_until == incident.extension_valid_until
    change = EntitlementStatusChange.objects.get(entitlement=entitlement)
    assert (change.from_status, change.to_status, change.actor, change.note) == (
        "found",
        "extended",
        agent,
        "店舗記録と一致",
    )


def test_the_service_refuses_an_undeclared_move_naming_the_current_state_and_changes_nothing(
    incident,
) -> None:
    entitlement = _entitlement(incident, "found")
    with pytest.raises(TransitionError, match="該当（確認待ち）"):
        entitlement_transition(entitlement_id=entitlement.pk, to="payable", actor=None, note="")
    assert Entitlement.objects.get(pk=entitlement.pk).status == "found"
    assert not EntitlementStatusChange.objects.exists()


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        pytest.param("extended", {}, id="extended-without-valid-until"),
        pytest.param("covered", {}, id="covered-without-valid-until"),
        pytest.param(
            "payable", {"valid_until": dt.datetime(2023, 3, 31, tzinfo=dt.UTC)}, id="payable-without-final"
        ),
        pytest.param(
            "extended",
            {"valid_until": dt.datetime(2023, 3, 31, tzinfo=dt.UTC), "final_balance_yen": 5},
            id="extended-with-final",
        ),
    ],
)
def test_the_database_holds_the_fields_that_follow_the_status(incident, status, fields) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        _entitlement(incident, status, **fields)
    assert not Entitlement.objects.exists()


def test_a_coupon_has_at_most_one_payable_row_per_incident(incident) -> None:
    first = _entitlement(incident, "extended", valid_until=jst(2023, 3, 31, 23, 59, 59))
    Entitlement.objects.filter(pk=first.pk).update(status="payable", final_balance_yen=100)
    second = Entitlement.objects.create(
        incident=incident,
        coupon=first.coupon,
        category="1-1",
        route="app",
        status="extended",
        amount_yen=1,
        valid_until=jst(2023, 3, 31, 23, 59, 59),
        found_at=jst(2023, 3, 1),
    )
    with pytest.raises(IntegrityError, match="entitlement_one_payable_per_coupon"), transaction.atomic():
        Entitlement.objects.filter(pk=second.pk).update(status="payable", final_balance_yen=100)
    assert Entitlement.objects.get(pk=second.pk).status == "extended"
