"""The desk over HTTP: the intake page, decisions at the same instant on real PostgreSQL
connections (threads), and what an agent may not do."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from callcenter.models import CallCase, CallDecision
from callcenter.services import Answers, call_case_confirm, call_case_open
from claims.models import EntitlementStatusChange, Incident, Instruction, Reinstatement
from tests.callcenter.conftest import agent, build_ledger, entitlement, run_engine, supervisor
from tests.factories import StoreFactory
from tests.staff import login_verified


def _client(user) -> Client:
    return login_verified(Client(), user)  # password and a verified second factor


def _in_threads(*targets) -> list[object]:
    """Run the targets at the same instant, each on its own connection; return their results."""
    results: list[object] = [None] * len(targets)
    barrier = threading.Barrier(len(targets))

    def run(index: int, target) -> None:
        try:
            barrier.wait()
            results[index] = target()
        except BaseException as exc:  # handed to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db
def test_intake_finds_a_coupon_typed_in_any_shape(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    client = _client(agent())
    response = client.get(reverse("admin:callcenter_intake"), {"q": "ｄｕｐ－００００－００１"})
    assert response.status_code == 200
    page = response.content.decode()
    assert numbers["dup"] in page
    assert "2-2 重複決済" in page
    assert "MDUP-2" in page
    assert "（戻入の対象）" in page
    assert "1-2 判定時点" in page


@pytest.mark.django_db
def test_intake_helps_when_nothing_is_found(incident: Incident, call_day) -> None:
    build_ledger()
    client = _client(agent())
    page = client.get(reverse("admin:callcenter_intake"), {"q": "DUPOOOOOO1"}).content.decode()
    assert "当たるクーポンはありません" in page
    assert "DUP0000001" in page  # O read for 0
    page = client.get(reverse("admin:callcenter_intake"), {"q": "cash"}).content.decode()
    assert "CASH000001" in page  # the beginning of a number


@pytest.mark.django_db
def test_staff_without_the_permission_gets_no_intake_page(incident: Incident) -> None:
    from django.contrib.auth.models import User

    user = User.objects.create_user(username="plain", password="x", is_staff=True)
    assert _client(user).get(reverse("admin:callcenter_intake")).status_code == 403
    anonymous = Client().get(reverse("admin:callcenter_intake"))
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


@pytest.mark.django_db
def test_open_a_case_and_check_the_four_answers(incident: Incident, call_day) -> None:
    numbers = build_ledger()
    run_engine(incident)
    StoreFactory(store_id="S-OTHER", store_name="館山駅前食堂", prefecture_code="12")
    client = _client(agent())
    response = client.post(
        reverse("admin:callcenter_intake"),
        {
            "inquiry_number": "dup0000001",
            "caller_name": "山田 太郎",
            "callback_number": "090-1234-5678",
            "expires_on": "２０２３/０２/２６",
            "prefecture_code": "13",  # the caller says Tokyo: shown as a mismatch
            "store_text": "ﾀﾃﾔﾏかいせん",  # half-width kana and hiragana for 館山海鮮市場? no: kana only
            "group": "2-2",
            "notes": "",
        },
    )
    assert response.status_code == 302
    case = CallCase.objects.get()
    assert str(case.callback_number) == "+819012345678"
    page = client.get(response["Location"]).content.decode()
    assert "090-1234-5678" in page  # shown national
    assert page.count("desk-ng") >= 1
    assert "不一致" in page
    assert case.answered_expires_on.isoformat() == "2023-02-26"
    assert case.coupon_id == numbers["dup"]


@pytest.mark.django_db(transaction=True)
def test_two_agents_confirming_at_once_decide_once_and_the_second_is_told_who(
    incident: Incident, call_day
) -> None:
    numbers = build_ledger()
    run_engine(incident)
    first, second = agent("agent1", last_name="佐藤"), agent("agent2", last_name="高橋")
    case = call_case_open(incident=incident, agent=first, answers=Answers(inquiry_number=numbers["dup"]))
    ent = entitlement(numbers["dup"], "2-2")
    changes_before = EntitlementStatusChange.objects.filter(entitlement=ent).count()
    url = reverse("admin:callcenter_desk", args=[case.pk])
    clients = [_client(first), _client(second)]

    def post(client: Client):
        return client.post(url, {"action": "confirm", "entitlement_id": ent.pk})

    responses = _in_threads(*(lambda c=c: post(c) for c in clients))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302, 409], responses
    refused = next(r for r in responses if r.status_code == 409)
    winner = CallDecision.objects.get()
    name = "佐藤さん（agent1）" if winner.decided_by.username == "agent1" else "高橋さん（agent2）"
    assert f"{name}が決定済み" in refused.content.decode()
    assert Instruction.objects.filter(entitlement=ent, action="reinstate").count() == 1
    assert list(Reinstatement.objects.values_list("movement_id", flat=True)) == ["MDUP-2"]
    assert EntitlementStatusChange.objects.filter(entitlement=ent).count() == changes_before + 1


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_approving_at_once_approve_once(incident: Incident, call_day) -> None:
    incident.reinstatement_approval_threshold_yen = 500
    incident.save()
    numbers = build_ledger()
    run_engine(incident)
    user = agent()
    case = call_case_open(incident=incident, agent=user, answers=Answers(inquiry_number=numbers["dup"]))
    ent = entitlement(numbers["dup"], "2-2")
    decision = call_case_confirm(case_id=case.pk, entitlement_id=ent.pk, actor=user)
    assert decision.status == "waiting"
    changes_before = EntitlementStatusChange.objects.filter(entitlement=ent).count()
    bosses = [supervisor("super1", last_name="鈴木"), supervisor("super2", last_name="田中")]
    url = reverse("admin:callcenter_decision", args=[decision.pk, "approve"])

    responses = _in_threads(*(lambda b=b: _client(b).post(url) for b in bosses))

    assert sorted(r.status_code for r in responses) == [302, 409], responses
    decision.refresh_from_db()
    refused = next(r for r in responses if r.status_code == 409).content.decode()
    assert f"さん（{decision.approved_by.username}）が承認済み" in refused
    assert Instruction.objects.filter(entitlement=ent, action="reinstate").count() == 1
    assert list(Reinstatement.objects.values_list("movement_id", flat=True)) == ["MDUP-2"]
    assert EntitlementStatusChange.objects.filter(entitlement=ent).count() == changes_before + 1


@pytest.mark.django_db
def test_an_agent_cannot_approve_above_the_threshold(incident: Incident, call_day) -> None:
    incident.reinstatement_approval_threshold_yen = 500
    incident.save()
    numbers = build_ledger()
    run_engine(incident)
    user, other_agent = agent(), agent("agent2")
    client = _client(user)
    case = call_case_open(incident=incident, agent=user, answers=Answers(inquiry_number=numbers["dup"]))
    ent = entitlement(numbers["dup"], "2-2")
    response = client.post(
        reverse("admin:callcenter_desk", args=[case.pk]), {"action": "confirm", "entitlement_id": ent.pk}
    )
    assert response.status_code == 302
    decision = CallDecision.objects.get()
    assert decision.status == "waiting"
    page = client.get(response["Location"]).content.decode()
    assert "責任者の承認待ち" in page
    assert "承認する</button>" not in page
    for who in (user, other_agent):
        refused = _client(who).post(reverse("admin:callcenter_decision", args=[decision.pk, "approve"]))
        assert refused.status_code == 403
        assert "責任者だけ" in refused.content.decode()
    decision.refresh_from_db()
    ent.refresh_from_db()
    assert (decision.status, ent.status) == ("waiting", "found")
    assert not Instruction.objects.filter(entitlement=ent).exists()


@pytest.mark.django_db
def test_supervisor_view_lists_waiting_and_today(incident: Incident, call_day) -> None:
    incident.reinstatement_approval_threshold_yen = 500
    incident.save()
    numbers = build_ledger()
    run_engine(incident)
    user = agent("agent1", last_name="佐藤")
    case = call_case_open(incident=incident, agent=user, answers=Answers(inquiry_number=numbers["dup"]))
    call_case_confirm(case_id=case.pk, entitlement_id=entitlement(numbers["dup"], "2-2").pk, actor=user)
    page = _client(supervisor()).get(reverse("admin:callcenter_supervisor")).content.decode()
    assert "承認待ちの決定（1 件）" in page
    assert "佐藤" in page
    assert "期限まであと <strong>17 日</strong>" in page


@pytest.mark.django_db
def test_store_search_is_forgiving(incident: Incident) -> None:
    StoreFactory(store_id="S1", store_name="館山海鮮市場 本店")
    StoreFactory(store_id="S2", store_name="カモガワ シーワールド売店")
    StoreFactory(store_id="S3", store_name="ＡＢＣマート千葉")
    from callcenter.lookups import search_stores

    assert [s.store_id for s in search_stores("海鮮")] == ["S1"]
    assert [s.store_id for s in search_stores("かもがわ")] == ["S2"]
    assert [s.store_id for s in search_stores("ｶﾓｶﾞﾜｼｰ")] == ["S2"]
    assert [s.store_id for s in search_stores("abcまーと")] == ["S3"]
    assert search_stores("存在しない") == []


@pytest.mark.django_db
def test_store_search_uses_the_trigram_index(incident: Incident) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT 1 FROM coupons_store WHERE search_name LIKE '%%カイセン%%'")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "store_search_name_trgm" in plan


@pytest.mark.django_db
def test_with_two_incidents_the_intake_asks_which_and_opens_the_case_on_the_one_named(
    incident: Incident, call_day
) -> None:
    # Given a second incident (a later outage) beside the 2023-02-24 one
    numbers = build_ledger()
    later = Incident.objects.get(pk=incident.pk)
    later.pk = None
    later.code, later.name = "regionpay-2024-01-01", "2024年1月1日の障害"
    later.save()
    client = _client(agent())

    # When the agent opens the intake page without naming one, the page asks which
    asked = client.get(reverse("admin:callcenter_intake"), {"q": numbers["dup"]})
    assert "障害を選んでください" in asked.content.decode()
    assert f"?q={numbers['dup']}&amp;incident={later.pk}" in asked.content.decode()  # the number kept
    assert not CallCase.objects.exists()

    # Then a case opened from the page of the later incident belongs to that incident
    page = client.get(reverse("admin:callcenter_intake"), {"q": numbers["dup"], "incident": later.pk})
    assert f'name="incident" value="{later.pk}"' in page.content.decode()
    response = client.post(
        reverse("admin:callcenter_intake"),
        {"incident": later.pk, "inquiry_number": numbers["dup"], "caller_name": "山田", "group": "2-2"},
    )
    assert response.status_code == 302
    assert CallCase.objects.get().incident_id == later.pk


@pytest.mark.django_db
def test_the_desk_saves_answers_and_an_other_case_over_http_without_an_entitlement_chosen(
    incident: Incident, call_day
) -> None:
    # Given an open case (these forms carry no entitlement id: none is decided on)
    numbers = build_ledger()
    run_engine(incident)
    user = agent()
    case = call_case_open(incident=incident, agent=user, answers=Answers(inquiry_number=numbers["dup"]))
    client = _client(user)
    desk = reverse("admin:callcenter_desk", args=[case.pk])

    # When the agent corrects what was heard, then registers an "other" case
    saved = client.post(
        desk, {"action": "update", "caller_name": "山田 太郎", "inquiry_number": numbers["dup"]}
    )
    other = client.post(desk, {"action": "other", "description": "レジで二度読み取り", "amount_yen": "500"})

    # Then both are done
    assert (saved.status_code, other.status_code) == (302, 302)
    case.refresh_from_db()
    assert case.caller_name == "山田 太郎"
    assert case.decisions.get().status == CallDecision.Status.WAITING
