"""The desk's decisions, one at a time: what each writes, and what each refuses (changing nothing)."""

from __future__ import annotations

import pytest
import time_machine

from callcenter.models import CallCase, CallCaseEvent, CallDecision
from callcenter.services import (
    AlreadyApproved,
    AlreadyDecided,
    Answers,
    DecisionError,
    NotPermitted,
    call_case_confirm,
    call_case_open,
    call_case_open_other,
    call_case_reject,
    call_case_request_extension,
    call_decision_approve,
    call_decision_reopen,
)
from claims.models import Entitlement, EntitlementStatusChange, Incident, Instruction, Reinstatement
from tests.callcenter.conftest import agent, build_ledger, entitlement, run_engine, supervisor
from tests.factories import jst

pytestmark = pytest.mark.django_db


def _case(incident: Incident, number: str, user) -> CallCase:
    return call_case_open(incident=incident, agent=user, answers=Answers(inquiry_number=number))


def _snapshot() -> tuple[int, int, int, list, int]:
    return (
        CallDecision.objects.count(),
        Instruction.objects.filter(action="reinstate").count(),
        EntitlementStatusChange.objects.count(),
        list(Entitlement.objects.order_by("pk").values_list("status", "valid_until")),
        Reinstatement.objects.count(),
    )


def test_confirm_2_2_extends_and_reinstates_the_duplicate_once(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    ent = entitlement(numbers["dup"], "2-2")
    assert ent.status == "found"
    assert ent.amount_yen == 800
    user = agent(last_name="佐藤", first_name="花子")
    case = _case(incident, "dup-0000-001", user)  # typed with a hyphen and lower case

    decision = call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)

    ent.refresh_from_db()
    assert decision.status == "effective"
    assert decision.amount_yen == 800
    assert decision.movement_ids == ["MDUP-2"]
    assert ent.status == "extended"
    assert ent.valid_until == incident.extension_valid_until
    change = ent.status_changes.order_by("at", "pk").last()
    assert (change.from_status, change.to_status, change.actor) == ("found", "extended", user)
    reinstate = Instruction.objects.get(entitlement=ent, action="reinstate")
    assert reinstate.amount_yen == 800
    assert reinstate.instruction_id == f"{incident.code}:2-2:reinstate:{numbers['dup']}"
    assert Instruction.objects.filter(entitlement=ent, action="extend_validity").count() == 1
    rows = list(Reinstatement.objects.values_list("movement_id", "amount_yen", "channel", "instruction_id"))
    assert rows == [("MDUP-2", 800, "callcenter", reinstate.instruction_id)]
    case.refresh_from_db()
    assert (case.status, case.outcome) == ("closed", "confirmed")
    assert list(case.events.values_list("kind", flat=True)) == ["opened", "decided"]

    before = _snapshot()
    with pytest.raises(AlreadyDecided, match="2023年3月10日 11:00:00 に 佐藤 花子さん（agent1）が決定済み"):
        call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=agent("agent2"))
    assert _snapshot() == before


def test_engine_run_after_a_decision_leaves_it_alone(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    user = agent()
    case = _case(incident, numbers["dup"], user)
    ent = entitlement(numbers["dup"], "2-2")
    call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    cash = entitlement(numbers["cash"], "2-1")
    cash_case = _case(incident, numbers["cash"], user)
    call_case_reject(case_id=cash_case.pk, entitlement_id=cash.pk, actor=user, reason="店舗の記録と合わない")
    before = _snapshot()

    run_engine(incident, jst(2023, 3, 11, 9))
    from claims.services.eligibility import eligibility_run

    eligibility_run(incident=incident, as_of=jst(2023, 3, 12, 9))

    after = _snapshot()
    assert after[0:2] == before[0:2]
    assert after[3] == before[3]
    ent.refresh_from_db()
    cash.refresh_from_db()
    assert (ent.status, cash.status) == ("extended", "rejected")


def test_amount_above_threshold_waits_for_another_supervisor(incident: Incident, call_day) -> None:
    incident.reinstatement_approval_threshold_yen = 500
    incident.save()
    numbers = build_ledger()
    run_engine(incident)
    ent = entitlement(numbers["dup"], "2-2")
    user, boss = agent(), supervisor(last_name="鈴木")
    case = _case(incident, numbers["dup"], user)

    decision = call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)

    ent.refresh_from_db()
    assert decision.status == "waiting"
    assert ent.status == "found"
    assert not Instruction.objects.filter(entitlement=ent).exists()
    case.refresh_from_db()
    assert case.status == "waiting"

    before = _snapshot()
    with pytest.raises(NotPermitted):
        call_decision_approve(decision_id=decision.pk, actor=user)  # an agent cannot approve
    assert _snapshot() == before

    call_decision_approve(decision_id=decision.pk, actor=boss)
    ent.refresh_from_db()
    assert ent.status == "extended"
    assert Instruction.objects.get(entitlement=ent, action="reinstate").amount_yen == 800
    assert ent.status_changes.order_by("pk").last().actor == boss
    with pytest.raises(AlreadyApproved, match="鈴木さん（super1）が承認済み"):
        call_decision_approve(decision_id=decision.pk, actor=supervisor("super2"))


def test_supervisor_cannot_approve_own_decision(incident: Incident, call_day) -> None:
    incident.reinstatement_approval_threshold_yen = 100
    incident.save()
    numbers = build_ledger()
    run_engine(incident)
    boss = supervisor()
    case = _case(incident, numbers["dup"], boss)
    decision = call_case_confirm(
        case_id=case.pk, entitlement_id=entitlement(numbers["dup"], "2-2").pk, actor=boss
    )
    with pytest.raises(NotPermitted):
        call_decision_approve(decision_id=decision.pk, actor=boss)
    decision.refresh_from_db()
    assert decision.status == "waiting"


def test_never_more_than_the_evidence(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    user = agent()
    case = _case(incident, numbers["dup"], user)
    ent = entitlement(numbers["dup"], "2-2")
    before = _snapshot()
    for ids in (["MDUP-1", "MDUP-2"], ["MDUP-3"], []):
        with pytest.raises(DecisionError):
            call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user, movement_ids=ids)
    assert _snapshot() == before


def test_2_1_confirm_reinstates_the_cash_matched_payment(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    user = agent()
    case = _case(incident, numbers["cash"], user)
    ent = entitlement(numbers["cash"], "2-1")
    decision = call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    assert decision.amount_yen == 1200
    assert decision.movement_ids == ["MCASH-1"]


def test_1_2_request_before_the_deadline_extends(incident: Incident) -> None:
    numbers = build_ledger()
    with time_machine.travel(jst(2023, 3, 27, 23, 59), tick=False):
        run_engine(incident, jst(2023, 3, 27, 23, 59))
        user = agent()
        case = _case(incident, numbers["left"], user)
        ent = entitlement(numbers["left"], "1-2")
        decision = call_case_request_extension(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    ent.refresh_from_db()
    assert decision.status == "effective"
    assert ent.status == "extended"
    assert Instruction.objects.get(entitlement=ent).action == "extend_validity"


def test_1_2_request_after_the_deadline_is_refused_with_the_reason(incident: Incident) -> None:
    numbers = build_ledger()
    with time_machine.travel(jst(2023, 3, 28, 0, 0), tick=False):  # 3/28 00:00 JST: one day late
        run_engine(incident, jst(2023, 3, 28, 0, 0))
        user = agent()
        case = _case(incident, numbers["left"], user)
        ent = entitlement(numbers["left"], "1-2")
        before = _snapshot()
        with pytest.raises(DecisionError, match="2023年3月27日（日本時間）までです。本日は 3月28日"):
            call_case_request_extension(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    assert _snapshot() == before


def test_reject_then_reopen_by_supervisor_only(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    user, boss = agent(), supervisor()
    case = _case(incident, numbers["dup"], user)
    ent = entitlement(numbers["dup"], "2-2")
    before = _snapshot()
    with pytest.raises(DecisionError):
        call_case_reject(case_id=case.pk, entitlement_id=ent.pk, actor=user, reason="  ")
    assert _snapshot() == before
    decision = call_case_reject(case_id=case.pk, entitlement_id=ent.pk, actor=user, reason="店舗の記録なし")
    ent.refresh_from_db()
    assert ent.status == "rejected"
    with pytest.raises(NotPermitted):
        call_decision_reopen(decision_id=decision.pk, actor=user, reason="やり直し")
    call_decision_reopen(decision_id=decision.pk, actor=boss, reason="店舗から記録が届いた")
    ent.refresh_from_db()
    decision.refresh_from_db()
    case.refresh_from_db()
    assert (ent.status, decision.status, case.status) == ("found", "withdrawn", "open")
    assert case.events.order_by("pk").last().kind == CallCaseEvent.Kind.REOPENED
    # and it can be decided again
    again = call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    assert again.status == "effective"


def test_other_needs_a_supervisor(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    user, boss = agent(), supervisor()
    case = _case(incident, numbers["left"], user)
    decision = call_case_open_other(
        case_id=case.pk, actor=user, description="アプリが二重に起動し残高が消えた", amount_yen=1500
    )
    ent = decision.entitlement
    assert (ent.category, ent.status, ent.amount_yen, decision.status) == ("other", "found", 1500, "waiting")
    call_decision_approve(decision_id=decision.pk, actor=boss)
    ent.refresh_from_db()
    assert ent.status == "extended"
    assert not Instruction.objects.filter(entitlement=ent).exists()


def test_a_confirmation_after_the_final_instant_sends_nothing_to_the_platform(incident: Incident) -> None:
    numbers = build_ledger()
    after_final = jst(2023, 4, 3, 10)
    with time_machine.travel(after_final, tick=False):
        run_engine(incident, after_final)
        user = agent()
        case = _case(incident, numbers["dup"], user)
        ent = entitlement(numbers["dup"], "2-2")
        decision = call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    assert decision.status == "effective"
    assert decision.amount_yen == 800
    assert not Instruction.objects.filter(entitlement=ent).exists()
    # paid with the final amount instead (the engine adds reinstatements without an instruction)
    assert list(Reinstatement.objects.values_list("movement_id", "amount_yen", "instruction")) == [
        ("MDUP-2", 800, None)
    ]
