"""Bank-transfer batches: made by one person, approved by another, exported as a Zengin file.

The rules (issue #10 §3, operations.md):
- A batch gathers every bank payout that is ``ready`` (amount final, account verified), whose
  decision is not flagged 要確認 (DOMAIN.md: 要確認 holds money), and that is in no other live
  batch (``transferline_one_live_per_payout``). Its lines freeze what the file needs.
- Maker-checker: the approver holds the approver role (支払承認者) and is not the creator (also a
  CHECK in the database). Two approvers at the same instant: the batch row is locked, the first
  approves, the second is told who did. The approval approves every transfer in the batch.
- The Zengin file is written only for an approved batch; the first export records its SHA-256 and
  every later export must give the same bytes.
- A returned transfer (組戻し) frees its payout: ``returned`` then ``awaiting_bank_details``, the
  traveller is asked through the outbox to correct the account, and a later batch takes it once
  it is ``ready`` again.

Payouts move in sets (one UPDATE writing its status-change rows in the same statement), checked
against ``PAYOUT_TRANSITIONS`` first: a batch can hold 100,000 transfers. Returns, a handful at a
time, go through ``payout_transition`` one by one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.fernet import InvalidToken
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum

from claims.banking.banks import AccountType, get_bank, get_branch
from claims.banking.calendar import is_bank_business_day, next_bank_business_day
from claims.banking.kana import KanaError, zengin_truncate
from claims.models import BankAccount, Incident
from config import clock
from payouts.models import Payout, PayoutStatusChange, TransferBatch, TransferLine
from payouts.services.transitions import PAYOUT_TRANSITIONS
from payouts.zengin import MAX_COUNT, Requester, Transfer, ZenginSummary, write_zengin_file
from staff.roles import Role, has_role

JST = ZoneInfo("Asia/Tokyo")

__all__ = [
    "BatchAlreadyDecided",
    "BatchError",
    "BatchPermissionDenied",
    "NothingToBatch",
    "batch_approve",
    "batch_cancel",
    "batch_create",
    "batch_export_zengin",
    "batch_totals_by_bank",
    "default_transfer_date",
    "transfers_settle",
]


class BatchError(Exception):
    """A refusal, in a Japanese sentence naming the problem; nothing was changed."""


class NothingToBatch(BatchError):
    pass


class BatchPermissionDenied(BatchError):
    pass


class BatchAlreadyDecided(BatchError):
    """Someone was first (approved or cancelled the batch); the message names them and when."""


@dataclass
class BatchCreated:
    batch: TransferBatch
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (payout id, why), never a name


def today_jst() -> dt.date:
    return clock.now().astimezone(JST).date()


def default_transfer_date(incident: Incident, *, today: dt.date | None = None) -> dt.date:
    """The second bank business day after today (banks take a 総合振込 file a day or two ahead),
    and not before the incident's first transfer day (``transfers_from``)."""
    today = today or today_jst()
    first = next_bank_business_day(
        next_bank_business_day(today + dt.timedelta(days=1)) + dt.timedelta(days=1)
    )
    transfers_from = getattr(incident, "transfers_from", None)
    if transfers_from and transfers_from > first:
        first = next_bank_business_day(transfers_from)
    return first


def _person(user: Any) -> str:
    return getattr(user, "username", None) or "（不明）"


def _local(at: dt.datetime | None) -> str:
    return f"{at.astimezone(JST):%Y-%m-%d %H:%M}" if at else ""


def _check_transfer_date(incident: Incident, transfer_date: dt.date) -> None:
    if not is_bank_business_day(transfer_date):
        raise BatchError(
            f"振込指定日 {transfer_date:%Y-%m-%d} は銀行の営業日ではありません"
            f"（次の営業日は {next_bank_business_day(transfer_date):%Y-%m-%d}）。"
        )
    if transfer_date <= today_jst():
        raise BatchError(f"振込指定日 {transfer_date:%Y-%m-%d} は明日以降の営業日にしてください。")
    transfers_from = getattr(incident, "transfers_from", None)
    if transfers_from and transfer_date < transfers_from:
        raise BatchError(
            f"振込指定日 {transfer_date:%Y-%m-%d} は返金振込の開始日（{transfers_from:%Y-%m-%d}）より前です。"
        )


def _requester_snapshot(incident: Incident) -> dict[str, str]:
    account = getattr(incident, "requester_account", None)
    if account is None:
        raise BatchError(
            "この障害の振込依頼人（当方の口座）が登録されていません。管理画面で登録してください。"
        )
    requester = account.as_requester()
    return {
        "code": requester.code,
        "name": requester.name,
        "bank_code": requester.bank_code,
        "bank_name": requester.bank_name,
        "branch_code": requester.branch_code,
        "branch_name": requester.branch_name,
        "account_type": str(requester.account_type.value),
        "account_number": requester.account_number,
    }


def _move_payouts(
    *, batch: TransferBatch, from_status: str, to_status: str, actor: Any, note: str, now: dt.datetime
) -> int:
    """Move every payout of the batch's live lines from one status to the next, in one statement
    that also writes their status-change rows (the set-based twin of ``payout_transition``).
    Raises when the move is not in the table or when any payout of the batch was not where the
    batch expects it (the caller's transaction then rolls back)."""
    if to_status not in PAYOUT_TRANSITIONS.get(from_status, set()):
        raise BatchError(f"支払の状態を「{from_status}」から「{to_status}」へは変えられません。")
    payout_table = Payout._meta.db_table
    change_table = PayoutStatusChange._meta.db_table
    line_table = TransferLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {payout_table} p SET status = %(to)s, updated_at = %(now)s
                FROM {line_table} l
                WHERE l.batch_id = %(batch)s AND l.outcome = '' AND p.id = l.payout_id
                  AND p.status = %(from)s
                RETURNING p.id
            )
            INSERT INTO {change_table} (payout_id, from_status, to_status, actor_id, note, at)
            SELECT id, %(from)s, %(to)s, %(actor)s, %(note)s, %(now)s FROM moved
            """,  # noqa: S608 - table names from the models, values as parameters
            {
                "to": to_status,
                "from": from_status,
                "now": now,
                "batch": batch.pk,
                "actor": getattr(actor, "pk", None),
                "note": note,
            },
        )
        moved = cursor.rowcount
    expected = batch.lines.filter(outcome="").count()
    if moved != expected:
        raise BatchError(
            f"振込バッチ #{batch.pk} の支払 {expected - moved} 件が「{from_status}」ではありません"
            "（他の操作で変わりました）。バッチを取り消して作り直してください。"
        )
    return moved


_CANDIDATES = """
SELECT p.id, p.amount_yen, ba.id, ba.bank_code, ba.branch_code, ba.account_type, ba.account_number,
       ba.holder_kana
FROM {payout} p
JOIN claims_bankaccount ba ON ba.id = p.bank_account_id
JOIN claims_entitlement e ON e.id = p.entitlement_id
WHERE p.incident_id = %(incident)s AND p.method = 'bank' AND p.status = 'ready'
  AND NOT e.needs_review
  AND NOT EXISTS (SELECT 1 FROM {line} l WHERE l.payout_id = p.id AND l.outcome = '')
ORDER BY p.id
LIMIT %(limit)s
FOR UPDATE OF p SKIP LOCKED
"""


def batch_create(*, incident: Incident, by: Any, transfer_date: dt.date | None = None) -> BatchCreated:
    """Gather every ready bank payout not in a live batch into a new draft batch (issue #10 §3).

    Rows are locked ``FOR UPDATE SKIP LOCKED``: two people making batches at once split the
    payouts between them, never share one (and the partial unique constraint on live lines is the
    last line of defence). A payout whose frozen data cannot go into a Zengin file (a holder name
    outside the Zengin set, an unknown account type) is left out and listed, by id.
    """
    if not has_role(by, Role.OPERATIONS):
        raise BatchPermissionDenied(f"{_person(by)} には振込バッチを作成する権限（運営事務局）がありません。")
    transfer_date = transfer_date or default_transfer_date(incident)
    _check_transfer_date(incident, transfer_date)
    requester = _requester_snapshot(incident)
    now = clock.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _CANDIDATES.format(payout=Payout._meta.db_table, line=TransferLine._meta.db_table),
                {"incident": incident.pk, "limit": MAX_COUNT},
            )
            candidates = cursor.fetchall()
        lines, numbers, skipped = [], [], []
        names: dict[tuple[str, str], tuple[str, str]] = {}
        decrypt = BankAccount._meta.get_field("account_number").f.decrypt  # type: ignore[union-attr]
        for payout_id, amount, account_id, bank, branch, account_type, cipher, holder_kana in candidates:
            try:
                number = decrypt(cipher.encode()).decode() if cipher else ""
            except (InvalidToken, ValueError):
                number = ""
            if (bank, branch) not in names:
                b, br = get_bank(bank), get_branch(bank, branch)
                names[bank, branch] = (b.zengin_name if b else "", br.zengin_name if br else "")
            try:
                holder = zengin_truncate(holder_kana or "")
            except KanaError:
                holder = ""
            if not holder.strip() or holder.startswith(" "):
                skipped.append((payout_id, "口座名義が全銀カナではありません"))
            elif account_type not in AccountType._value2member_map_:
                skipped.append((payout_id, "預金種目が不明です"))
            elif not (number.isascii() and number.isdigit() and len(number) <= 7 and number.strip("0")):
                skipped.append((payout_id, "口座番号が読めません"))
            else:
                lines.append(
                    (payout_id, account_id, bank, *names[bank, branch], branch, account_type, holder, amount)
                )
                numbers.append(number)
        if not lines:
            reason = f"（対象外 {len(skipped)} 件）" if skipped else ""
            raise NothingToBatch(f"振込バッチにする支払がありません{reason}。")
        batch = TransferBatch.objects.create(
            incident=incident,
            transfer_date=transfer_date,
            count=len(lines),
            total_yen=sum(line[-1] for line in lines),
            created_by=by,
            created_at=now,
            requester=requester,
            account_numbers="\n".join(numbers),  # in payout order, as the lines are exported
        )
        with (
            connection.cursor() as cursor,
            cursor.copy(
                f"COPY {TransferLine._meta.db_table} (payout_id, bank_account_id, bank_code, bank_name, "
                "branch_name, branch_code, account_type, holder, amount_yen, batch_id, "
                "outcome, return_reason) FROM STDIN"
            ) as copy,
        ):
            for line in lines:
                copy.write_row((*line, batch.pk, "", ""))
        _move_payouts(
            batch=batch,
            from_status="ready",
            to_status="in_batch",
            actor=by,
            note=f"振込バッチ #{batch.pk}",
            now=now,
        )
    return BatchCreated(batch=batch, skipped=skipped)


def _lock(batch_id: int) -> TransferBatch:
    try:
        # No join: a row locked after waiting is re-read at its latest version, but a joined row
        # would come from the statement's snapshot (an approver read as nobody). The approver and
        # the canceller are read afterwards, by statements that see the first one's commit.
        return TransferBatch.objects.select_for_update().get(pk=batch_id)
    except TransferBatch.DoesNotExist:
        raise BatchError(f"振込バッチ #{batch_id} はありません。") from None


def _already(batch: TransferBatch) -> BatchAlreadyDecided:
    if batch.status == TransferBatch.Status.CANCELLED:
        return BatchAlreadyDecided(
            f"振込バッチ #{batch.pk} は {_person(batch.cancelled_by)} が "
            f"{_local(batch.cancelled_at)} に取り消しています。"
        )
    return BatchAlreadyDecided(
        f"振込バッチ #{batch.pk} は {_person(batch.approved_by)} が "
        f"{_local(batch.approved_at)} に承認済みです。"
    )


def batch_approve(*, batch_id: int, by: Any) -> TransferBatch:
    """The second person's approval: approves the batch and every transfer in it, once.

    Refused for the batch's creator and for anyone without the approver role (支払承認者); refused
    when a payout of the batch has since been flagged 要確認 or its amount changed (the batch is
    then cancelled and made again). The batch row is locked, so of two approvers at the same
    instant one approves and the other is told who did.
    """
    if not has_role(by, Role.APPROVER):
        raise BatchPermissionDenied(f"{_person(by)} には振込バッチを承認する権限（支払承認者）がありません。")
    now = clock.now()
    with transaction.atomic():
        batch = _lock(batch_id)
        if batch.status != TransferBatch.Status.DRAFT:
            raise _already(batch)
        if batch.created_by_id == by.pk:
            raise BatchPermissionDenied(
                f"振込バッチ #{batch.pk} は {_person(by)} が作成したため、承認は別の方が行ってください。"
            )
        if batch.transfer_date <= today_jst():
            raise BatchError(
                f"振込指定日 {batch.transfer_date:%Y-%m-%d} を過ぎています。"
                "バッチを取り消して作り直してください。"
            )
        live = batch.lines.filter(outcome="")
        held = live.filter(
            Q(payout__entitlement__needs_review=True) | ~Q(payout__amount_yen=F("amount_yen"))
        ).count()
        if held:
            raise BatchError(
                f"振込バッチ #{batch.pk} に、作成後に要確認となった、"
                f"または金額が変わった支払が {held} 件あります。"
                "バッチを取り消して作り直してください。"
            )
        _move_payouts(
            batch=batch,
            from_status="in_batch",
            to_status="approved",
            actor=by,
            note=f"振込バッチ #{batch.pk} の承認",
            now=now,
        )
        batch.status = TransferBatch.Status.APPROVED
        batch.approved_by, batch.approved_at = by, now
        batch.save(update_fields=["status", "approved_by", "approved_at"])
    return batch


def batch_cancel(*, batch_id: int, by: Any) -> TransferBatch:
    """Cancel a draft batch (a wrong preview, a transfer date gone by): its payouts are ready again
    and may go into the next batch. An approved batch is not cancelled here: its file may be out."""
    if not (has_role(by, Role.OPERATIONS) or has_role(by, Role.APPROVER)):
        raise BatchPermissionDenied(f"{_person(by)} には振込バッチを取り消す権限がありません。")
    now = clock.now()
    with transaction.atomic():
        batch = _lock(batch_id)
        if batch.status != TransferBatch.Status.DRAFT:
            raise _already(batch)
        _move_payouts(
            batch=batch,
            from_status="in_batch",
            to_status="ready",
            actor=by,
            note=f"振込バッチ #{batch.pk} の取消",
            now=now,
        )
        batch.lines.filter(outcome="").update(outcome=TransferLine.Outcome.CANCELLED, outcome_at=now)
        batch.status = TransferBatch.Status.CANCELLED
        batch.cancelled_by, batch.cancelled_at = by, now
        batch.save(update_fields=["status", "cancelled_by", "cancelled_at"])
    return batch


def batch_totals_by_bank(batch: TransferBatch) -> list[dict[str, Any]]:
    """The preview: count and yen per receiving bank, largest first (what the approver looks at)."""
    rows = (
        batch.lines.exclude(outcome=TransferLine.Outcome.CANCELLED)
        .values("bank_code", "bank_name")
        .annotate(count=Count("id"), total_yen=Sum("amount_yen"))
        .order_by("-total_yen", "bank_code")
    )
    result = []
    for row in rows:
        bank = get_bank(row["bank_code"])
        result.append({**row, "bank_label": bank.name if bank else row["bank_name"]})
    return result


_EXPORT = """
SELECT bank_code, bank_name, branch_code, branch_name, account_type, holder, amount_yen,
       payout_id::text AS customer_code_1
FROM {line} WHERE batch_id = %s AND outcome <> 'cancelled' ORDER BY payout_id
"""


def transfers_with_numbers(rows: Iterable[Sequence[Any]], numbers: Iterable[str]) -> Iterator[Transfer]:
    """``Transfer``s from line rows (the file's fields but the account number, in payout order)
    and the batch's account numbers in the same order; a count that differs stops the export."""
    make = tuple.__new__
    try:
        for (bank, bank_name, branch, branch_name, type_, holder, amount, code), number in zip(
            rows, numbers, strict=True
        ):
            yield make(
                Transfer,
                (bank, bank_name, branch, branch_name, type_, number, holder, amount, code, "", "0", "7"),
            )
    except ValueError:  # zip's: one ran out before the other
        raise BatchError("振込バッチの口座番号と明細の件数が一致しません。出力を中止しました。") from None


def _transfers(batch: TransferBatch) -> Iterator[Transfer]:
    numbers = batch.account_numbers.split("\n") if batch.account_numbers else []
    if len(numbers) != batch.lines.exclude(outcome=TransferLine.Outcome.CANCELLED).count():
        raise BatchError(f"振込バッチ #{batch.pk} の口座番号と明細の件数が一致しません。出力を中止しました。")
    with connection.cursor() as cursor:
        rows = cursor.cursor.stream(_EXPORT.format(line=TransferLine._meta.db_table), (batch.pk,), size=2_000)
        yield from transfers_with_numbers(rows, numbers)


def _requester(batch: TransferBatch) -> Requester:
    r = dict(batch.requester)
    return Requester(**{**r, "account_type": AccountType(r["account_type"])})


def batch_export_zengin(*, batch_id: int, out: Path) -> tuple[TransferBatch, ZenginSummary]:
    """Write the batch's Zengin 総合振込 file to ``out`` (only once approved).

    The lines and the requester were frozen when the batch was made, so the bytes are the same
    every time; the first export records the file's SHA-256 and size, and a later export that
    would differ (which would mean the frozen data changed) is refused and leaves ``out`` alone.
    The file is written beside ``out`` and renamed into place once complete.
    """
    out = Path(out)
    with transaction.atomic():
        batch = _lock(batch_id)
        if batch.status not in (TransferBatch.Status.APPROVED, TransferBatch.Status.EXPORTED):
            raise BatchError(
                f"振込バッチ #{batch.pk} は{batch.get_status_display()}です。"
                "承認されたバッチだけを出力できます。"
            )
        handle, temporary = tempfile.mkstemp(prefix=".zengin-", dir=out.parent or Path())
        try:
            with os.fdopen(handle, "wb") as stream:
                summary = write_zengin_file(
                    stream,
                    requester=_requester(batch),
                    transfer_date=batch.transfer_date,
                    transfers=_transfers(batch),
                )
            if batch.file_sha256 and batch.file_sha256 != summary.sha256:
                raise BatchError(
                    f"振込バッチ #{batch.pk} の振込データが初回出力（SHA-256 {batch.file_sha256[:12]}…）"
                    "と一致しません。"
                    "出力を中止しました。"
                )
            os.replace(temporary, out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if not batch.file_sha256:
            batch.status = TransferBatch.Status.EXPORTED
            batch.file_sha256, batch.file_size_bytes = summary.sha256, summary.size_bytes
            batch.exported_at = clock.now()
            batch.save(update_fields=["status", "file_sha256", "file_size_bytes", "exported_at"])
    return batch, summary


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def transfers_settle(*, today: dt.date | None = None) -> int:
    """Mark the transfers of every exported batch whose transfer date has come as ``transferred``
    (the bank executes the file on that day; a return comes later and is imported as such)."""
    today = today or today_jst()
    moved = 0
    now = clock.now()
    for batch_id in TransferBatch.objects.filter(
        status=TransferBatch.Status.EXPORTED, transfer_date__lte=today
    ).values_list("pk", flat=True):
        with transaction.atomic():
            batch = _lock(batch_id)
            moved += _move_payouts_some(batch=batch, now=now)
    return moved


def _move_payouts_some(*, batch: TransferBatch, now: dt.datetime) -> int:
    """approved → transferred for the batch's live lines still approved (idempotent)."""
    payout_table = Payout._meta.db_table
    change_table = PayoutStatusChange._meta.db_table
    line_table = TransferLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {payout_table} p SET status = 'transferred', updated_at = %(now)s
                FROM {line_table} l
                WHERE l.batch_id = %(batch)s AND l.outcome = '' AND p.id = l.payout_id
                  AND p.status = 'approved'
                RETURNING p.id
            )
            INSERT INTO {change_table} (payout_id, from_status, to_status, actor_id, note, at)
            SELECT id, 'approved', 'transferred', NULL, %(note)s, %(now)s FROM moved
            """,  # noqa: S608 - table names from the models, values as parameters
            {"now": now, "batch": batch.pk, "note": f"振込バッチ #{batch.pk} の振込指定日"},
        )
        return cursor.rowcount
