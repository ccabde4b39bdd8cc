"""What operations and the call center see and do around the engine: runs, exports, the dashboard,
evidence, rejection, the incident's history, and beat's tick after each cut-off."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from pghistory.models import Events

from claims.models import EligibilityRun, Entitlement, Incident
from claims.services.runs import eligibility_due
from claims.tasks import eligibility_tick_task
from tests.factories import CouponFactory, MovementFactory, StoreFactory, StoreSaleFactory, jst
from tests.staff import login_verified

pytestmark = pytest.mark.django_db

AFTER_FINAL = "2023-04-10T10:00:00+09:00"


@pytest.fixture
def ledger():
    """A 1-1 coupon (app user) with 2,000 left, and a 2-2 coupon charged twice during the outage."""
    store = StoreFactory(store_name="勝浦朝市")
    left = CouponFactory(
        inquiry_number="CB0000000011",
        expires_on=dt.date(2023, 2, 24),
        app_account_id="APP1",
        app_phone="+819012345678",
    )
    MovementFactory(coupon=left, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(
        coupon=left, kind="payment", amount_yen=-1000, store=store, occurred_at=jst(2023, 2, 24, 12)
    )
    twice = CouponFactory(inquiry_number="CB0000000022", expires_on=dt.date(2023, 3, 3))
    MovementFactory(coupon=twice, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    for movement_id, second in (("MD1", 0), ("MD2", 40)):
        MovementFactory(
            movement_id=movement_id,
            coupon=twice,
            kind="payment",
            amount_yen=-800,
            store=store,
            request_id=f"R{movement_id}",
            occurred_at=jst(2023, 2, 24, 18, 0, second),
        )
    StoreSaleFactory(
        store=store, receipt_number="T1", amount_yen=800, tender="coupon", occurred_at=jst(2023, 2, 24, 18)
    )
    return {"left": left, "twice": twice}


def _run(monkeypatch, at: str = AFTER_FINAL) -> None:
    monkeypatch.setenv("PORTAL_NOW", at)
    call_command("run_eligibility", stdout=io.StringIO())


def test_run_eligibility_records_the_run_and_finds_both_groups(ledger, monkeypatch) -> None:
    _run(monkeypatch)

    run = EligibilityRun.objects.get()
    assert run.status == EligibilityRun.Status.SUCCEEDED
    assert run.as_of == jst(2023, 4, 10, 10)
    assert run.summary["created"] == {"1-1": 1, "1-2": 0, "2-2": 1, "2-1": 0}
    left = Entitlement.objects.get(coupon=ledger["left"])
    assert (left.category, left.route, left.amount_yen, left.status) == ("1-1", "app", 2000, "payable")
    assert left.final_balance_yen == 2000
    twice = Entitlement.objects.get(coupon=ledger["twice"])
    assert (twice.category, twice.amount_yen, twice.evidence["duplicate_movement_ids"]) == (
        "2-2",
        800,
        ["MD2"],
    )


def test_export_entitlements_writes_the_interface_columns_in_japan_time(
    ledger, monkeypatch, tmp_path
) -> None:
    _run(monkeypatch)
    out = tmp_path / "entitlements.csv"

    call_command("export_entitlements", "--out", str(out), stdout=io.StringIO())

    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["inquiry_number"], r["category"]) for r in rows] == [
        ("CB0000000011", "1-1"),
        ("CB0000000022", "2-2"),
    ]
    first = rows[0]
    assert first["route"] == "app"
    assert first["cutoff_at"] == "2023-02-27T00:00:00+09:00"
    assert first["valid_until"] == "2023-03-31T23:59:59+09:00"
    assert (first["amount_yen"], first["status"], first["final_balance_yen"]) == ("2000", "payable", "2000")
    assert rows[1]["evidence_movement_ids"] == "MD1 MD2"


def test_the_same_decision_exported_twice_keeps_its_instruction_id(ledger, monkeypatch, tmp_path) -> None:
    _run(monkeypatch)
    call_command("export_instructions", "--out", str(tmp_path / "a.csv"), stdout=io.StringIO())
    _run(monkeypatch, "2023-04-11T10:00:00+09:00")
    call_command("export_instructions", "--out", str(tmp_path / "b.csv"), stdout=io.StringIO())

    first = (tmp_path / "a.csv").read_text()
    assert first == (tmp_path / "b.csv").read_text()
    (row,) = csv.DictReader(io.StringIO(first))
    assert row["instruction_id"] == "regionpay-2023-02-24:1-1:extend:CB0000000011"
    assert (row["action"], row["category"]) == ("extend_validity", "1-1")


def test_dashboard_shows_counts_and_yen_per_group_to_staff_only(client, staff, ledger, monkeypatch) -> None:
    _run(monkeypatch)
    url = reverse("admin:claims_dashboard")

    anonymous = client.get(url)
    login_verified(client, staff["operations"])
    page = client.get(url)

    assert anonymous.status_code == 302
    assert page.status_code == 200
    chart = {bar["code"]: (bar["count"], bar["amount"]) for bar in page.context["chart"]}
    assert chart == {"1-1": (1, 2000), "2-2": (1, 800)}
    assert "補償の状況" in page.content.decode()


def test_dashboard_totals_count_only_money_owed_not_rejected_or_used_up(
    client, staff, ledger, monkeypatch
) -> None:
    # Given the 1-1 coupon payable (2,000) and the 2-2 candidate rejected, plus a used-up 1-1 coupon.
    spent = CouponFactory(inquiry_number="CB0000000033", expires_on=dt.date(2023, 2, 24))
    MovementFactory(coupon=spent, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(
        coupon=spent, kind="payment", amount_yen=-3000, store=StoreFactory(), occurred_at=jst(2023, 3, 10, 10)
    )
    _run(monkeypatch)
    Entitlement.objects.filter(coupon=ledger["twice"]).update(status=Entitlement.Status.REJECTED)
    assert Entitlement.objects.get(coupon=spent).status == Entitlement.Status.USED_UP
    login_verified(client, staff["operations"])

    # When operations look at the dashboard
    page = client.get(reverse("admin:claims_dashboard"))

    # Then only the payable 2,000 yen is money owed; the rejected 800 and the used-up coupon are not.
    totals = page.context["totals"]
    assert totals["payable"] == {"count": 1, "final": 2000}
    assert totals["extended"] == {"count": 0, "amount": 0}
    assert totals["found"] == {"count": 0, "amount": 0}
    assert totals["none"] == {"count": 2}
    assert {bar["code"]: bar["amount"] for bar in page.context["chart"]} == {"1-1": 2000}
    body = page.content.decode()
    assert "支払対象（最終残高が確定）" in body
    assert "2,000 円" in body


def test_entitlement_csv_from_the_list_keeps_the_lists_filters(client, staff, ledger, monkeypatch) -> None:
    _run(monkeypatch)
    login_verified(client, staff["operations"])
    listing = client.get(reverse("admin:claims_entitlement_changelist"), {"category__exact": "2-2"})
    csv_link = reverse("admin:claims_entitlements_csv") + "?category__exact=2-2"
    assert csv_link in listing.content.decode()

    filtered = client.get(csv_link)
    everything = client.get(reverse("admin:claims_entitlements_csv"))

    rows = list(csv.DictReader(io.StringIO(b"".join(filtered.streaming_content).decode())))
    assert [(r["inquiry_number"], r["category"]) for r in rows] == [("CB0000000022", "2-2")]
    assert len(b"".join(everything.streaming_content).decode().splitlines()) == 3


def test_entitlement_list_says_review_in_words_and_amounts_with_separators(
    client, staff, ledger, monkeypatch
):
    _run(monkeypatch)
    Entitlement.objects.filter(coupon=ledger["twice"]).update(needs_review=True, review_note="テスト")
    login_verified(client, staff["agent"])

    page = client.get(reverse("admin:claims_entitlement_changelist")).content.decode()

    assert "<strong>要確認</strong>" in page
    assert "icon-no.svg" not in page  # no red ✖ for "no review needed"
    assert "2,000 円" in page


def test_the_this_year_filter_follows_the_portal_clock(client, staff, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_NOW", "2023-03-10T10:00:00+09:00")
    CouponFactory(inquiry_number="CB0000000055", expires_on=dt.date(2023, 2, 24))
    login_verified(client, staff["agent"])

    page = client.get(reverse("admin:coupons_coupon_changelist")).content.decode()

    assert "expires_on__gte=2023-01-01&amp;expires_on__lt=2024-01-01" in page


def test_the_runs_creator_is_text_not_a_link_operations_cannot_open(
    client, staff, ledger, monkeypatch
) -> None:
    from claims.services.runs import eligibility_run_create

    run = eligibility_run_create(incident=Incident.objects.get(), created_by=staff["operations"])
    login_verified(client, staff["operations"])

    page = client.get(reverse("admin:claims_eligibilityrun_change", args=[run.pk])).content.decode()

    assert "operations" in page
    assert reverse("admin:auth_user_change", args=[staff["operations"].pk]) not in page


def test_csv_downloads_stream_the_same_rows_as_the_commands(client, staff, ledger, monkeypatch) -> None:
    _run(monkeypatch)
    login_verified(client, staff["operations"])

    response = client.get(reverse("admin:claims_entitlements_csv"))

    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"].startswith("text/csv")
    assert body.splitlines()[0].startswith("inquiry_number,category,route,cutoff_at,amount_yen")
    assert len(body.splitlines()) == 3


def test_an_agent_rejects_a_candidate_with_a_reason_and_a_rerun_keeps_it(
    client, staff, ledger, monkeypatch
) -> None:
    _run(monkeypatch)
    candidate = Entitlement.objects.get(coupon=ledger["twice"])
    login_verified(client, staff["agent"])
    page = client.get(reverse("admin:claims_entitlement_change", args=[candidate.pk])).content.decode()
    assert "重複の疑い" in page  # the evidence is on the page
    assert "（新規） → 該当（確認待ち）" in page  # its history in words, not in status codes
    assert "→ found" not in page

    client.post(
        reverse("admin:claims_entitlement_reject", args=[candidate.pk]), {"reason": "店舗記録では1回のみ"}
    )
    _run(monkeypatch, "2023-04-12T10:00:00+09:00")

    candidate.refresh_from_db()
    assert candidate.status == Entitlement.Status.REJECTED
    change = candidate.status_changes.last()
    assert (change.to_status, change.actor, change.note) == (
        "rejected",
        staff["agent"],
        "店舗記録では1回のみ",
    )
    assert Entitlement.objects.filter(coupon=ledger["twice"]).count() == 1


def test_a_rejection_without_a_reason_is_refused_and_changes_nothing(
    client, staff, ledger, monkeypatch
) -> None:
    _run(monkeypatch)
    candidate = Entitlement.objects.get(coupon=ledger["twice"])
    login_verified(client, staff["agent"])

    client.post(reverse("admin:claims_entitlement_reject", args=[candidate.pk]), {"reason": "  "})

    candidate.refresh_from_db()
    assert candidate.status == Entitlement.Status.FOUND
    assert candidate.status_changes.count() == 1


def test_operations_edit_the_incident_and_every_change_is_kept(client, staff) -> None:
    incident = Incident.objects.get()
    login_verified(client, staff["operations"])
    url = reverse("admin:claims_incident_change", args=[incident.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update({"outage_start_0": "2023-02-24", "outage_start_1": "17:12:00"})
    for name in (
        "outage_start",
        "outage_end",
        "group_1_1_cutoff_at",
        "group_1_2_cutoff_at",
        "extension_valid_until",
        "final_balance_at",
    ):
        value = getattr(incident, name).astimezone(dt.timezone(dt.timedelta(hours=9)))
        data.setdefault(f"{name}_0", value.strftime("%Y-%m-%d"))
        data.setdefault(f"{name}_1", value.strftime("%H:%M:%S"))
        data.pop(name, None)

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    incident.refresh_from_db()
    assert incident.outage_start == jst(2023, 2, 24, 17, 12)
    (event,) = Events.objects.tracks(incident).filter(pgh_label="update")
    assert event.pgh_context["user"] == staff["operations"].pk
    page = client.get(reverse("admin:claims_incident_history", args=[incident.pk])).content.decode()
    assert "変更者" in page
    assert "operations" in page
    # the changed field by its name, old → new, in Japan time under a Japanese title
    assert "障害開始" in page
    assert "2023/02/24 16:00:00 → 2023/02/24 17:12:00" in page
    assert "の変更履歴" in page


def test_an_outage_ending_before_it_starts_is_refused_in_words_not_by_constraint_name(client, staff) -> None:
    incident = Incident.objects.get()
    login_verified(client, staff["operations"])
    url = reverse("admin:claims_incident_change", args=[incident.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    for name in (
        "outage_start",
        "outage_end",
        "group_1_1_cutoff_at",
        "group_1_2_cutoff_at",
        "extension_valid_until",
        "final_balance_at",
    ):
        value = getattr(incident, name).astimezone(dt.timezone(dt.timedelta(hours=9)))
        data[f"{name}_0"] = value.strftime("%Y-%m-%d")
        data[f"{name}_1"] = value.strftime("%H:%M:%S")
        data.pop(name, None)
    data.update({"outage_end_0": "2023-02-24", "outage_end_1": "15:00:00"})  # before the 16:00 start

    response = client.post(url, data)

    page = response.content.decode()
    assert response.status_code == 200
    assert "障害の終了は、開始より後の日時にしてください。" in page
    assert "incident_outage_ordered" not in page
    assert "制約" not in page
    incident.refresh_from_db()
    assert incident.outage_end == jst(2023, 2, 25)  # unchanged


def test_each_date_and_time_input_of_the_incident_form_has_its_own_name(client, staff) -> None:
    incident = Incident.objects.get()
    login_verified(client, staff["operations"])

    page = client.get(reverse("admin:claims_incident_change", args=[incident.pk])).content.decode()

    assert 'aria-label="障害開始（日付）"' in page
    assert 'aria-label="障害開始（時刻・日本時間）"' in page
    assert page.count('aria-label="') >= 12  # six dates and times, two inputs each


def test_beat_starts_a_run_just_after_each_cut_off_and_not_again(django_capture_on_commit_callbacks) -> None:
    incident = Incident.objects.get()
    assert not eligibility_due(incident=incident, now=jst(2023, 2, 24, 23, 59))  # the outage goes on
    assert eligibility_due(incident=incident, now=jst(2023, 2, 25, 0, 1))  # over: 2-x can be decided

    with time_machine.travel(jst(2023, 2, 26, 0, 5), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            eligibility_tick_task()
            eligibility_tick_task()  # the first run is on its way: nothing more
        eligibility_tick_task()  # the run is done and no new cut-off has passed

    (run,) = EligibilityRun.objects.all()
    assert run.status == EligibilityRun.Status.SUCCEEDED
    assert run.as_of == jst(2023, 2, 26, 0, 5)
    assert not eligibility_due(incident=incident, now=jst(2023, 2, 26, 23, 59))
    assert eligibility_due(incident=incident, now=jst(2023, 2, 27, 0, 1))  # the 1-1 cut-off


@pytest.mark.django_db(transaction=True)  # the runs' checkpoints are about commits
def test_beat_starts_a_run_when_new_movements_arrived_since_the_last_one(
    incident, django_capture_on_commit_callbacks
) -> None:
    coupon = CouponFactory()
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    with (
        time_machine.travel(jst(2023, 2, 27, 0, 5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        eligibility_tick_task()
    assert not eligibility_due(incident=incident, now=jst(2023, 2, 27, 0, 10))

    # A later file brings a payment made before the 1-1 cut-off
    MovementFactory(
        coupon=coupon,
        kind="payment",
        amount_yen=-500,
        occurred_at=jst(2023, 2, 26, 12),
        store=StoreFactory(),
    )
    assert eligibility_due(incident=incident, now=jst(2023, 2, 27, 0, 10))
    with (
        time_machine.travel(jst(2023, 2, 27, 0, 10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        eligibility_tick_task()

    latest = EligibilityRun.objects.order_by("-pk").first()
    assert (latest.summary["mode"], latest.summary["coupons"]) == ("incremental", 1)
    assert Entitlement.objects.get(coupon=coupon).needs_review  # 3,000 recorded, 2,500 now


def test_a_coupon_is_paid_once_even_when_a_second_group_is_extended_after_its_final_balance(
    ledger, monkeypatch
) -> None:
    # Given the 1-1 coupon's final balance was recorded (payable) by a run after 2023-04-01
    _run(monkeypatch)
    left = Entitlement.objects.get(coupon=ledger["left"], category="1-1")
    assert left.status == Entitlement.Status.PAYABLE
    # and the same coupon then gets a 2-2 entitlement that the call center extends
    other = Entitlement.objects.create(
        incident=left.incident,
        coupon=ledger["left"],
        category="2-2",
        route="callcenter",
        status=Entitlement.Status.EXTENDED,
        amount_yen=500,
        valid_until=left.valid_until,  # extended ⇒ valid_until (a CHECK since #7)
        found_at=jst(2023, 4, 11),
        evidence={},
    )

    # When the engine runs again
    _run(monkeypatch, "2023-04-12T10:00:00+09:00")

    # Then the coupon's balance is still paid once: the new entitlement is covered by the 1-1
    other.refresh_from_db()
    left.refresh_from_db()
    assert other.status == Entitlement.Status.COVERED
    assert other.final_balance_yen is None  # the balance is counted once, on the payable one
    assert left.status == Entitlement.Status.PAYABLE
    assert Entitlement.objects.filter(coupon=ledger["left"], status="payable").count() == 1


def test_the_history_page_cannot_be_used_to_change_the_incident(client, staff) -> None:
    incident = Incident.objects.get()
    login_verified(client, staff["agent"])  # may view the incident, not change it
    url = reverse("admin:claims_incident_history", args=[incident.pk])

    assert client.get(url).status_code == 200
    client.post(url, {"outage_start_0": "2023-02-24", "outage_start_1": "00:00:00"})

    assert Incident.objects.get().outage_start == jst(2023, 2, 24, 16)
    assert not Events.objects.tracks(incident).filter(pgh_label="update").exists()


def test_groups_are_decided_only_once_their_cut_off_has_passed(ledger, monkeypatch) -> None:
    # When the engine runs just after the 1-2 cut-off (2/26 0:05), a day before the 1-1 one
    _run(monkeypatch, "2023-02-26T00:05:00+09:00")

    # Then the 1-1 coupon (still usable until 2/26 23:59) is not decided yet; the outage's 2-2 is
    assert not Entitlement.objects.filter(category="1-1").exists()
    assert Entitlement.objects.filter(category="2-2").count() == 1

    # And after the 1-1 cut-off it is, with its balance at the cut-off
    _run(monkeypatch, "2023-02-27T00:05:00+09:00")
    assert Entitlement.objects.get(category="1-1").amount_yen == 2000


def test_the_run_page_says_whether_the_run_was_full_or_incremental(
    ledger, monkeypatch, client, staff
) -> None:
    _run(monkeypatch)
    _run(monkeypatch)
    full, incremental = EligibilityRun.objects.order_by("pk")
    login_verified(client, staff["operations"])

    first = client.get(reverse("admin:claims_eligibilityrun_change", args=[full.pk])).content.decode()
    second = client.get(reverse("admin:claims_eligibilityrun_change", args=[incremental.pk])).content.decode()

    assert "全件判定" in first
    assert "差分判定" in second
    assert "xact" not in first + second  # the checkpoint stays internal


def test_beat_runs_for_new_data_after_runs_recorded_without_a_checkpoint() -> None:
    incident = Incident.objects.get()
    EligibilityRun.objects.create(
        incident=incident,
        created_at=jst(2023, 4, 2),
        as_of=jst(2023, 4, 2),
        status=EligibilityRun.Status.SUCCEEDED,
    )  # a run from before checkpoints, after every cut-off
    assert not eligibility_due(incident=incident, now=jst(2023, 4, 3))

    MovementFactory(coupon=CouponFactory(), kind="issue", amount_yen=1000, occurred_at=jst(2023, 2, 23))

    assert eligibility_due(incident=incident, now=jst(2023, 4, 3))
