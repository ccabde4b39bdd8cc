"""Reconciliation and the payouts export: every affected coupon has one outcome and the yen add up."""

from __future__ import annotations

import csv

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from claims.models import Entitlement
from claims.services.transitions import entitlement_transition
from payouts.models import Payout, ReconciliationReport
from payouts.services.batches import batch_approve, batch_create, batch_export_zengin, transfers_settle
from payouts.services.reconciliation import reconcile
from payouts.tasks import payouts_nightly_task
from tests.factories import CouponFactory, jst
from tests.payouts.batching import bank_payout
from tests.payouts.conftest import payout_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("batch_day", "requester")]


def used_up(incident) -> Entitlement:
    entitlement = Entitlement.objects.create(
        incident=incident,
        coupon=CouponFactory(),
        category="1-1",
        route="app",
        status="extended",
        cutoff_at=jst(2023, 2, 27),
        amount_yen=500,
        valid_until=incident.extension_valid_until,
        found_at=jst(2023, 3, 1),
    )
    return entitlement_transition(
        entitlement_id=entitlement.pk, to="used_up", actor=None, note="test", changes={"final_balance_yen": 0}
    )


@pytest.fixture
def every_outcome(incident, maker, checker, tmp_path) -> dict[str, Payout]:
    """One coupon per outcome: points ordered and expired and pending, a transfer done, one used up."""
    payouts = {
        "ordered": payout_in(incident, "ordered"),
        "expired": payout_in(incident, "expired"),
        "pending": payout_in(incident, "link_sent"),
        "transferred": bank_payout(incident, 4_321),
    }
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    batch_export_zengin(batch_id=batch.pk, out=tmp_path / "f.txt")
    transfers_settle(today=batch.transfer_date)
    used_up(incident)
    return payouts


def test_every_coupon_has_one_outcome_and_the_yen_add_up(incident, every_outcome) -> None:
    result = reconcile(incident=incident)
    assert result.adds_up, result.exceptions
    assert result.coupons == 5
    assert {
        o: result.counts[o] for o in ("ordered", "transferred", "pending", "expired", "used_up")
    } == dict.fromkeys(("ordered", "transferred", "pending", "expired", "used_up"), 1)
    assert result.yen["transferred"] == 4_321
    assert result.final_yen == sum(p.amount_yen for p in every_outcome.values())
    assert Payout.objects.get(pk=every_outcome["transferred"].pk).status == "transferred"


def test_a_payable_coupon_without_payout_and_a_wrong_amount_are_listed(
    incident, every_outcome, tmp_path
) -> None:
    bank_payout(incident, 100)
    Payout.objects.filter(pk=every_outcome["expired"].pk).update(amount_yen=1)
    from tests.payouts.conftest import payable_entitlement

    missing = payable_entitlement(incident, final_yen=777)

    result = reconcile(incident=incident)

    assert not result.adds_up
    problems = dict(result.exceptions)
    assert problems[missing.coupon_id] == "支払が作成されていません"
    assert "最終残高" in problems[every_outcome["expired"].inquiry_number]
    out = tmp_path / "reconcile.csv"
    with pytest.raises(CommandError, match="不一致") as refused:
        call_command("reconcile", "--out", str(out))
    assert refused.value.returncode == 1
    rows = {row["inquiry_number"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows[missing.coupon_id]["outcome"] == "missing"
    assert rows[every_outcome["ordered"].inquiry_number]["exception"] == ""


def test_the_command_prints_one_line_when_it_adds_up(incident, every_outcome, capsys) -> None:
    call_command("reconcile")
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line.endswith("一致、例外 0件")


def test_the_nightly_job_keeps_a_report(incident, every_outcome) -> None:
    payouts_nightly_task()
    report = ReconciliationReport.objects.get()
    assert report.adds_up
    assert report.outcomes["transferred"] == {"count": 1, "yen": 4_321}


def test_export_payouts_writes_every_payout_with_its_state_and_no_contact(
    incident, every_outcome, tmp_path
) -> None:
    out = tmp_path / "payouts.csv"
    call_command("export_payouts", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {row["payout_id"]: row["status"] for row in rows} == {
        str(p.pk): Payout.objects.get(pk=p.pk).status for p in every_outcome.values()
    }
    transfer = next(r for r in rows if r["payout_id"] == str(every_outcome["transferred"].pk))
    assert (transfer["amount_yen"], transfer["transfer_date"]) == ("4321", "2023-05-15")
    assert "+8190" not in out.read_text(encoding="utf-8")


def test_the_dashboard_shows_money_by_payout_state_and_the_last_reconciliation(
    incident, every_outcome, staff_client
) -> None:
    payouts_nightly_task()
    page = staff_client("operations").get(reverse("admin:claims_dashboard"), {"incident": incident.pk})
    html = page.content.decode()
    assert page.status_code == 200
    assert "支払の状況（状態ごとの金額）" in html
    assert "銀行振込・振込済み 4,321円（1件）" in html  # the chart's text equivalent
    assert "<svg" in html
    assert "最後の照合" in html
    assert "一致" in html
