"""Returned transfers (組戻し): all or nothing, the traveller asked again, a later batch takes it."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from notifications.models import Message
from payouts.models import Payout, PayoutStatusChange, TransferLine
from payouts.services.batches import batch_approve, batch_create, batch_export_zengin
from payouts.services.reminders import reminders_send
from payouts.services.returns import ReturnsFileError, parse_returns, transfer_returns_import
from payouts.services.transitions import payout_transition
from tests.payouts.batching import BATCH_DAY, bank_payout

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("batch_day", "requester")]


@pytest.fixture
def exported(incident, maker, checker, tmp_path):
    """A batch of three transfers, approved and exported."""
    payouts = [bank_payout(incident, amount) for amount in (1_000, 2_000, 3_000)]
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    batch_export_zengin(batch_id=batch.pk, out=tmp_path / "sogo.txt")
    return batch, payouts


def write(tmp_path, text: str, name: str = "returns.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def state() -> tuple:
    return (
        list(Payout.objects.order_by("pk").values_list("pk", "status")),
        PayoutStatusChange.objects.count(),
        list(TransferLine.objects.order_by("pk").values_list("pk", "outcome", "return_reason")),
        Message.objects.count(),
    )


def test_a_return_frees_the_payout_and_asks_the_traveller_for_the_account(exported, tmp_path, capsys) -> None:
    batch, (first, second, third) = exported
    path = write(tmp_path, f"batch_id,customer_code,reason\n{batch.pk},{second.pk:010d},口座なし\n")

    call_command("import_transfer_returns", str(path))

    assert "組戻し 1 件（2,000 円）を記録" in capsys.readouterr().out
    payout = Payout.objects.get(pk=second.pk)
    assert payout.status == "awaiting_bank_details"
    moves = list(PayoutStatusChange.objects.filter(payout=second).values_list("to_status", flat=True))
    assert moves[-3:] == ["transferred", "returned", "awaiting_bank_details"]
    line = TransferLine.objects.get(batch=batch, payout=second)
    assert (line.outcome, line.return_reason) == ("returned", "口座なし")
    message = Message.objects.get(reference=f"payout:{second.pk}")
    assert (message.channel, message.template) == ("sms", "transfer_returned")
    assert "2,000円" in message.body
    assert [Payout.objects.get(pk=p.pk).status for p in (first, third)] == ["approved", "approved"]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(exported, tmp_path) -> None:
    batch, (_, second, _) = exported
    path = write(tmp_path, f"batch_id,customer_code,reason\n{batch.pk},{second.pk},口座なし\n")
    transfer_returns_import(path)
    before = state()
    result = transfer_returns_import(path)
    assert (result.returned, result.already) == (0, 1)
    assert state() == before


def test_a_bad_line_refuses_the_whole_file_naming_line_and_field(exported, tmp_path) -> None:
    batch, (first, _, _) = exported
    path = write(
        tmp_path,
        "batch_id,customer_code,reason\n"
        f"{batch.pk},{first.pk},口座なし\n"
        f"{batch.pk},abc,名義相違\n"
        f"{batch.pk},{first.pk},\n"
        f"999,{first.pk},口座なし\n",
    )
    before = state()
    with pytest.raises(ReturnsFileError) as refused:
        transfer_returns_import(path)
    text = str(refused.value)
    assert "returns.csv" in text
    assert "3行目 customer_code" in text
    assert "4行目 reason" in text
    assert state() == before
    # With the file's format right, the database's view: an unknown batch, a payout not in it.
    path = write(
        tmp_path,
        f"batch_id,customer_code,reason\n{batch.pk},{first.pk},x\n999,{first.pk},y\n{batch.pk},77777,z\n",
    )
    with pytest.raises(ReturnsFileError) as refused:
        transfer_returns_import(path)
    assert "3行目 batch_id: 振込バッチ 999 はありません" in str(refused.value)
    assert "4行目 customer_code" in str(refused.value)
    assert state() == before


def test_the_command_refuses_with_a_sentence_and_changes_nothing(exported, tmp_path) -> None:
    path = write(tmp_path, "batch,code\n1,2\n")
    before = state()
    with pytest.raises(
        CommandError, match="見出しに batch_id, customer_code, reason がありません"
    ) as refused:
        call_command("import_transfer_returns", str(path))
    assert refused.value.returncode == 1
    assert state() == before


def test_a_return_before_the_file_went_out_is_refused(incident, maker, checker, tmp_path) -> None:
    payout = bank_payout(incident)
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    path = write(tmp_path, f"batch_id,customer_code,reason\n{batch.pk},{payout.pk},x\n")
    with pytest.raises(ReturnsFileError, match="振込データを出力したバッチだけ"):
        transfer_returns_import(path)


def test_a_corrected_account_goes_into_a_later_batch(exported, incident, maker, checker, tmp_path) -> None:
    batch, (_, second, _) = exported
    transfer_returns_import(write(tmp_path, f"batch_id,customer_code,reason\n{batch.pk},{second.pk},x\n"))
    payout = Payout.objects.get(pk=second.pk)
    payout_transition(
        payout, "ready", changes={"bank_account": payout.entitlement.coupon.bank_accounts.first()}
    )

    later = batch_create(incident=incident, by=maker).batch

    assert list(later.lines.values_list("payout_id", "amount_yen")) == [(second.pk, 2_000)]
    assert TransferLine.objects.filter(payout=second).count() == 2  # the returned one stays on record


def test_a_cp932_file_from_a_spreadsheet_is_read(exported, tmp_path) -> None:
    batch, (first, _, _) = exported
    rows = parse_returns(
        f"batch_id,customer_code,reason\r\n{batch.pk},{first.pk},名義相違\r\n".encode("cp932"), name="x.csv"
    )
    assert rows == [(2, batch.pk, first.pk, "名義相違")]


def test_a_returned_transfer_still_without_an_account_after_7_days_is_reminded_once(
    exported, incident, tmp_path
) -> None:
    batch, (_, second, _) = exported
    transfer_returns_import(write(tmp_path, f"batch_id,customer_code,reason\n{batch.pk},{second.pk},x\n"))
    with time_machine.travel(BATCH_DAY + dt.timedelta(days=6, hours=23), tick=False):
        assert reminders_send(incident=incident).total == 0
    with time_machine.travel(BATCH_DAY + dt.timedelta(days=7), tick=False):
        assert reminders_send(incident=incident).sent == {"bank_details": 1}
        assert reminders_send(incident=incident).total == 0
    (message,) = Message.objects.filter(template="reminder_bank_details")
    assert "2,000円" in message.body
