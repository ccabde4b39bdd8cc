"""Transfer batches: made by one person, approved by another, exported as the same bytes every time."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from claims.models import Entitlement
from payouts.models import Payout, PayoutStatusChange, TransferBatch, TransferLine
from payouts.services.batches import (
    BatchAlreadyDecided,
    BatchError,
    BatchPermissionDenied,
    NothingToBatch,
    batch_approve,
    batch_cancel,
    batch_create,
    batch_export_zengin,
    batch_totals_by_bank,
)
from tests.payouts.batching import BATCH_DAY, bank_payout
from tests.payouts.zengin_reader import read_zengin
from tests.staff import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("batch_day", "requester")]


def statuses(*payouts: Payout) -> list[str]:
    return [Payout.objects.get(pk=p.pk).status for p in payouts]


def snapshot() -> tuple:
    """Everything a refused action must leave as it was."""
    return (
        list(Payout.objects.order_by("pk").values_list("pk", "status", "updated_at")),
        PayoutStatusChange.objects.count(),
        list(TransferBatch.objects.order_by("pk").values()),
        list(TransferLine.objects.order_by("pk").values_list("pk", "outcome")),
    )


def test_a_batch_takes_every_ready_bank_payout_and_freezes_what_the_file_needs(incident, maker) -> None:
    first = bank_payout(incident, 12_345, holder_kana="ﾀﾅｶ ｲﾁﾛｳ")
    second = bank_payout(incident, 500, bank_code="9900", branch_code="408", account_type="savings")
    waiting = bank_payout(incident, 700, status="awaiting_bank_details")
    flagged = bank_payout(incident, 900)
    Entitlement.objects.filter(pk=flagged.entitlement_id).update(needs_review=True, review_note="test")

    created = batch_create(incident=incident, by=maker)

    batch = created.batch
    assert (batch.status, batch.count, batch.total_yen) == ("draft", 2, 12_845)
    assert batch.transfer_date == dt.date(2023, 5, 15)  # the incident's first transfer day, a Monday
    assert batch.created_by == maker
    assert statuses(first, second, waiting, flagged) == [
        "in_batch",
        "in_batch",
        "awaiting_bank_details",
        "ready",
    ]
    change = PayoutStatusChange.objects.get(payout=first, to_status="in_batch")
    assert (change.from_status, change.actor) == ("ready", maker)
    line = TransferLine.objects.get(batch=batch, payout=second)
    assert (line.bank_code, line.bank_name, line.branch_code, line.account_type) == (
        "9900",
        "ﾕｳﾁﾖ",
        "408",
        "savings",
    )
    # The numbers, in payout order, are the batch's, encrypted as one value
    assert TransferBatch.objects.get(pk=batch.pk).account_numbers == "1234567\n1234567"
    with connection.cursor() as cursor:
        cursor.execute("SELECT account_numbers FROM payouts_transferbatch WHERE id = %s", [batch.pk])
        assert "1234567" not in cursor.fetchone()[0]
    assert TransferLine.objects.get(payout=first).holder == "ﾀﾅｶ ｲﾁﾛｳ"
    assert batch.requester["code"] == "1234567890"


def test_with_nothing_ready_no_batch_is_made(incident, maker) -> None:
    bank_payout(incident, status="awaiting_bank_details")
    before = snapshot()
    with pytest.raises(NothingToBatch, match="振込バッチにする支払がありません"):
        batch_create(incident=incident, by=maker)
    assert snapshot() == before


def test_a_payout_already_in_a_live_batch_is_not_batched_again(incident, maker) -> None:
    payout = bank_payout(incident)
    batch = batch_create(incident=incident, by=maker).batch
    with pytest.raises(NothingToBatch):
        batch_create(incident=incident, by=maker)
    # The database holds it too: a second live line for the payout is refused.
    line = TransferLine.objects.get(payout=payout)
    line.pk, line.batch = (
        None,
        TransferBatch.objects.create(
            incident=incident,
            transfer_date=batch.transfer_date,
            count=1,
            total_yen=1,
            created_by=maker,
            created_at=batch.created_at,
            requester=batch.requester,
        ),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        line.save()


def test_only_operations_make_a_batch(incident) -> None:
    bank_payout(incident)
    before = snapshot()
    with pytest.raises(BatchPermissionDenied, match="運営事務局"):
        batch_create(incident=incident, by=make_staff("approver", username="only-approver"))
    assert snapshot() == before


def test_the_transfer_date_must_be_a_later_bank_business_day(incident, maker) -> None:
    bank_payout(incident)
    before = snapshot()
    with pytest.raises(BatchError, match="営業日ではありません"):
        batch_create(incident=incident, by=maker, transfer_date=dt.date(2023, 5, 20))  # a Saturday
    with pytest.raises(BatchError, match="返金振込の開始日"):
        batch_create(incident=incident, by=maker, transfer_date=dt.date(2023, 5, 12))
    assert snapshot() == before


def test_the_creator_cannot_approve_their_own_batch_even_holding_both_roles(incident) -> None:
    both = make_staff(None, username="root")  # a superuser holds every role
    bank_payout(incident)
    batch = batch_create(incident=incident, by=both).batch
    before = snapshot()
    with pytest.raises(BatchPermissionDenied, match="別の方"):
        batch_approve(batch_id=batch.pk, by=both)
    assert snapshot() == before
    # The database refuses it as well.
    with pytest.raises(IntegrityError), transaction.atomic():
        TransferBatch.objects.filter(pk=batch.pk).update(approved_by=both, approved_at=batch.created_at)


def test_someone_without_the_approver_role_cannot_approve(incident, maker) -> None:
    bank_payout(incident)
    batch = batch_create(incident=incident, by=maker).batch
    before = snapshot()
    with pytest.raises(BatchPermissionDenied, match="支払承認者"):
        batch_approve(batch_id=batch.pk, by=make_staff("operations", username="colleague"))
    assert snapshot() == before


def test_approval_approves_the_batch_and_every_transfer_in_it_once(incident, maker, checker) -> None:
    payouts = [bank_payout(incident, amount) for amount in (1_000, 2_000, 3_000)]
    batch = batch_create(incident=incident, by=maker).batch

    approved = batch_approve(batch_id=batch.pk, by=checker)

    assert (approved.status, approved.approved_by) == ("approved", checker)
    assert statuses(*payouts) == ["approved"] * 3
    assert PayoutStatusChange.objects.filter(to_status="approved", actor=checker).count() == 3
    before = snapshot()
    with pytest.raises(BatchAlreadyDecided, match="checker"):
        batch_approve(batch_id=batch.pk, by=make_staff("approver", username="late"))
    assert snapshot() == before


def test_a_payout_flagged_after_batching_holds_the_approval(incident, maker, checker) -> None:
    payout = bank_payout(incident)
    batch = batch_create(incident=incident, by=maker).batch
    Entitlement.objects.filter(pk=payout.entitlement_id).update(needs_review=True, review_note="後から矛盾")
    before = snapshot()
    with pytest.raises(BatchError, match="要確認"):
        batch_approve(batch_id=batch.pk, by=checker)
    assert snapshot() == before


def test_a_cancelled_draft_frees_its_payouts_for_the_next_batch(incident, maker) -> None:
    payout = bank_payout(incident)
    first = batch_create(incident=incident, by=maker).batch
    batch_cancel(batch_id=first.pk, by=maker)
    assert statuses(payout) == ["ready"]
    second = batch_create(incident=incident, by=maker).batch
    assert list(second.lines.values_list("payout_id", flat=True)) == [payout.pk]
    assert TransferLine.objects.get(batch=first).outcome == "cancelled"


def test_the_preview_totals_per_bank(incident, maker) -> None:
    bank_payout(incident, 1_000)
    bank_payout(incident, 2_500)
    bank_payout(incident, 400, bank_code="9900", branch_code="408")
    batch = batch_create(incident=incident, by=maker).batch
    totals = batch_totals_by_bank(batch)
    assert [(t["bank_code"], t["count"], t["total_yen"]) for t in totals] == [
        ("0005", 2, 3_500),
        ("9900", 1, 400),
    ]
    assert totals[0]["bank_label"] == "三菱ＵＦＪ"  # zengin-code writes it full-width


def test_the_zengin_file_is_written_only_once_approved_and_reads_back(
    incident, maker, checker, tmp_path
) -> None:
    amounts = {bank_payout(incident, amount, holder_kana=f"ﾃｽﾄ {kana}").pk: amount for amount, kana in
               [(1_234, "ｱ"), (56_789, "ｲ"), (10, "ｳ")]}  # fmt: skip
    batch = batch_create(incident=incident, by=maker).batch
    out = tmp_path / "sogo.txt"
    before = snapshot()
    with pytest.raises(BatchError, match="承認されたバッチだけ"):
        batch_export_zengin(batch_id=batch.pk, out=out)
    assert not out.exists()
    assert snapshot() == before
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind

    batch_approve(batch_id=batch.pk, by=checker)
    exported, summary = batch_export_zengin(batch_id=batch.pk, out=out)

    content = out.read_bytes()
    parsed = read_zengin(content)
    assert parsed.header["requester_code"] == "1234567890"
    assert parsed.header["transfer_mmdd"] == "0515"
    assert {int(d["customer_code_1"]): int(d["amount"]) for d in parsed.data} == amounts
    assert (int(parsed.trailer["count"]), int(parsed.trailer["total"])) == (3, sum(amounts.values()))
    assert {d["holder"] for d in parsed.data} == {"ﾃｽﾄ ｱ", "ﾃｽﾄ ｲ", "ﾃｽﾄ ｳ"}
    assert {d["account_number"] for d in parsed.data} == {"1234567"}
    assert exported.status == "exported"
    assert exported.file_sha256 == hashlib.sha256(content).hexdigest() == summary.sha256
    assert exported.file_size_bytes == len(content)

    again = tmp_path / "again.txt"
    batch_export_zengin(batch_id=batch.pk, out=again)
    assert again.read_bytes() == content


def test_a_reexport_that_would_differ_is_refused_and_leaves_the_file_alone(
    incident, maker, checker, tmp_path
) -> None:
    bank_payout(incident)
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    out = tmp_path / "sogo.txt"
    batch_export_zengin(batch_id=batch.pk, out=out)
    content = out.read_bytes()
    TransferLine.objects.filter(batch=batch).update(holder="ｶｲｻﾞﾝ")
    with pytest.raises(BatchError, match="一致しません"):
        batch_export_zengin(batch_id=batch.pk, out=out)
    assert out.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sogo.txt"]


# --- the commands (operations.md) -------------------------------------------------------------


def test_the_commands_make_approve_and_export_a_batch(incident, maker, checker, tmp_path, capsys) -> None:
    bank_payout(incident, 3_000)
    bank_payout(incident, 4_000)

    call_command("create_transfer_batch", "--by", "maker")
    lines = capsys.readouterr().out.strip().splitlines()
    batch_id = int(lines[-1])  # the new batch's id alone on the last line
    assert "2 件、合計 7,000 円" in lines[0]

    call_command("approve_transfer_batch", str(batch_id), "--by", "checker")
    assert "承認しました" in capsys.readouterr().out

    out = tmp_path / "f.txt"
    call_command("export_zengin", str(batch_id), "--out", str(out))
    summary = capsys.readouterr().out
    assert TransferBatch.objects.get(pk=batch_id).file_sha256 in summary
    assert int(read_zengin(out.read_bytes()).trailer["total"]) == 7_000


def test_create_transfer_batch_exits_3_when_nothing_is_ready(incident, maker) -> None:
    with pytest.raises(CommandError, match="振込バッチにする支払がありません") as refused:
        call_command("create_transfer_batch", "--by", "maker")
    assert refused.value.returncode == 3
    assert not TransferBatch.objects.exists()


def test_the_commands_refuse_with_a_sentence_and_status_1(incident, maker, checker, tmp_path) -> None:
    bank_payout(incident)
    with pytest.raises(CommandError, match="ユーザー nobody はいません") as refused:
        call_command("create_transfer_batch", "--by", "nobody")
    assert refused.value.returncode == 1
    call_command("create_transfer_batch", "--by", "maker")
    batch = TransferBatch.objects.get()
    before = snapshot()
    with pytest.raises(CommandError, match="支払承認者"):
        call_command("approve_transfer_batch", str(batch.pk), "--by", "maker")
    with pytest.raises(CommandError, match="承認されたバッチだけ"):
        call_command("export_zengin", str(batch.pk), "--out", str(tmp_path / "x.txt"))
    with pytest.raises(CommandError, match="ありません"):
        call_command("approve_transfer_batch", "999", "--by", "checker")
    assert snapshot() == before
    assert list(tmp_path.iterdir()) == []


# --- concurrency (threads on PostgreSQL) -------------------------------------------------------


def _at_once(*targets) -> list[object]:
    results: list[object] = [None] * len(targets)
    barrier = threading.Barrier(len(targets))

    def run(i: int, target) -> None:
        try:
            barrier.wait()
            results[i] = target()
        except BaseException as exc:  # handed to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_the_same_instant_approve_once(incident) -> None:
    maker_user = make_staff("operations", username="maker")
    first, second = make_staff("approver", username="first"), make_staff("approver", username="second")
    payouts = [bank_payout(incident, 1_000 + n) for n in range(5)]
    batch = batch_create(incident=incident, by=maker_user).batch

    results = _at_once(
        lambda: batch_approve(batch_id=batch.pk, by=first),
        lambda: batch_approve(batch_id=batch.pk, by=second),
    )

    approved = [r for r in results if isinstance(r, TransferBatch)]
    refused = [r for r in results if isinstance(r, BatchAlreadyDecided)]
    assert len(approved) == 1, results
    assert len(refused) == 1, results
    winner = TransferBatch.objects.get(pk=batch.pk).approved_by.username
    assert winner in str(refused[0])  # the other is told who approved
    assert statuses(*payouts) == ["approved"] * 5
    assert PayoutStatusChange.objects.filter(to_status="approved").count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_batches_made_at_once_never_share_a_payout(incident) -> None:
    one, two = make_staff("operations", username="one"), make_staff("operations", username="two")
    payouts = [bank_payout(incident, 100 + n) for n in range(40)]

    results = _at_once(
        lambda: batch_create(incident=incident, by=one), lambda: batch_create(incident=incident, by=two)
    )

    assert all(not isinstance(r, BaseException) or isinstance(r, NothingToBatch) for r in results), results
    lines = list(TransferLine.objects.values_list("payout_id", flat=True))
    assert sorted(lines) == sorted(p.pk for p in payouts)  # each payout in exactly one batch
    assert sum(b.total_yen for b in TransferBatch.objects.all()) == sum(p.amount_yen for p in payouts)


def test_results_are_dated_in_japan_time(incident, maker) -> None:
    bank_payout(incident)
    batch = batch_create(incident=incident, by=maker).batch
    assert batch.created_at == BATCH_DAY


def test_the_file_lists_the_transfers_in_payout_order(incident, maker, checker, tmp_path) -> None:
    # Ids across a power of ten: sorted as text, "100" would come before "99".
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('payouts_payout', 'id'))")
        upto = 10 ** len(str(cursor.fetchone()[0] + 6))
        cursor.execute("SELECT setval(pg_get_serial_sequence('payouts_payout', 'id'), %s)", [upto - 6])
    payouts = [bank_payout(incident, 100 + n) for n in range(12)]
    assert len({len(str(p.pk)) for p in payouts}) == 2
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    out = tmp_path / "f.txt"
    batch_export_zengin(batch_id=batch.pk, out=out)
    codes = [int(d["customer_code_1"]) for d in read_zengin(out.read_bytes()).data]
    assert codes == sorted(p.pk for p in payouts)
