"""Returned transfers (組戻し): the bank gives back a transfer it could not credit.

The file is the campaign office's CSV ``batch_id,customer_code,reason`` (operations.md): the batch's
number and the data record's 顧客コード1, which is the payout's id. The whole file is read and
checked first; any bad line refuses the file (file, line, field and a sentence; at most 20
listed) and nothing is written. A returned transfer's payout goes ``returned`` and then
``awaiting_bank_details``; the traveller is asked, through the outbox, to give the account again,
and once it is ``ready`` again the next batch takes it. A line already recorded as returned is
left as it is, so importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from config import clock
from notifications.services import message_enqueue
from payouts.models import Payout, TransferBatch, TransferLine
from payouts.services.transitions import PAYOUT_TRANSITIONS, payout_transition

COLUMNS = ("batch_id", "customer_code", "reason")
MAX_LISTED = 20


class ReturnsFileError(ValueError):
    """The file was refused; ``problems`` are sentences naming file, line and field."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_LISTED]
        more = f"（ほか {len(problems) - MAX_LISTED} 件）" if len(problems) > MAX_LISTED else ""
        super().__init__(f"{path}: 取り込みませんでした。" + " / ".join(shown) + more)


@dataclass
class ReturnsImported:
    returned: int = 0
    already: int = 0
    notified: int = 0
    not_notified: list[int] = field(default_factory=list)  # payout ids without a contact
    total_yen: int = 0


def _decode(raw: bytes, name: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932")  # what a spreadsheet on a Japanese Windows saves
    except UnicodeDecodeError:
        raise ReturnsFileError(name, ["文字コードがUTF-8でもShift_JIS（cp932）でもありません"]) from None


def parse_returns(raw: bytes, *, name: str) -> list[tuple[int, int, int, str]]:
    """(line number, batch id, payout id, reason) per data line, or ReturnsFileError."""
    text = _decode(raw, name)
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    header = next(reader, None)
    if header is None:
        raise ReturnsFileError(name, ["ファイルが空です"])
    columns = [c.strip().lower() for c in header]
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise ReturnsFileError(
            name, [f"1行目: 見出しに {', '.join(missing)} がありません（必要な列: {','.join(COLUMNS)}）"]
        )
    at = {c: columns.index(c) for c in COLUMNS}
    rows: list[tuple[int, int, int, str]] = []
    seen: dict[tuple[int, int], int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) < len(columns):
            problems.append(f"{line}行目: 列が {len(record)} 個しかありません（{len(columns)} 個必要）")
            continue
        values = {c: record[i].strip() for c, i in at.items()}
        numbers: dict[str, int] = {}
        for column in ("batch_id", "customer_code"):
            value = values[column].translate(str.maketrans("０１２３４５６７８９", "0123456789"))
            if not (value.isascii() and value.isdigit()) or len(value) > 10 or int(value) == 0:
                problems.append(
                    f"{line}行目 {column}: 10桁までの数字ではありません（{values[column][:20]!r}）"
                )
            else:
                numbers[column] = int(value)
        if not values["reason"]:
            problems.append(f"{line}行目 reason: 組戻しの理由が空です")
        if len(numbers) == 2:
            key = (numbers["batch_id"], numbers["customer_code"])
            if key in seen:
                problems.append(
                    f"{line}行目: {seen[key]}行目と同じ振込（バッチ {key[0]}・顧客コード {key[1]}）です"
                )
            seen[key] = line
            rows.append((line, key[0], key[1], values["reason"]))
    if problems:
        raise ReturnsFileError(name, problems)
    if not rows:
        raise ReturnsFileError(name, ["データ行がありません"])
    return rows


def _return_path(status: str) -> list[str]:
    """The moves from a payout's status through ``returned`` to ``awaiting_bank_details``."""
    path = []
    if status == Payout.Status.APPROVED:
        path.append(Payout.Status.TRANSFERRED)  # executed on its date, then given back
    path += [Payout.Status.RETURNED, Payout.Status.AWAITING_BANK_DETAILS]
    return path


def transfer_returns_import(path: Path | str, *, actor: Any = None) -> ReturnsImported:
    """Record the returns of a CSV file; all or nothing (see the module's docstring)."""
    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ReturnsFileError(name, [f"ファイルを読めません（{error.strerror}）"]) from None
    return transfer_returns_record(parse_returns(raw, name=name), name=name, actor=actor)


def transfer_return_by_hand(*, batch_id: int, customer_code: str, reason: str, actor: Any) -> ReturnsImported:
    """One return typed in on the batch's page (the bank phoned or wrote): the same checks and
    moves as a file's line."""
    code = customer_code.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    problems = []
    if not (code.isascii() and code.isdigit()) or len(code) > 10 or int(code) == 0:
        problems.append("顧客コード: 10桁までの数字ではありません")
    if not reason.strip():
        problems.append("理由: 組戻しの理由が空です")
    if problems:
        raise ReturnsFileError("入力", problems)
    return transfer_returns_record([(1, batch_id, int(code), reason.strip())], name="入力", actor=actor)


def transfer_returns_record(
    rows: list[tuple[int, int, int, str]], *, name: str, actor: Any
) -> ReturnsImported:
    """Record parsed returns ((line, batch id, payout id, reason)); all or nothing."""
    result = ReturnsImported()
    now = clock.now()
    with transaction.atomic():
        batches = {
            b.pk: b
            for b in TransferBatch.objects.select_for_update().filter(
                pk__in={batch for _, batch, _, _ in rows}
            )
        }
        lines = {
            (line.batch_id, line.payout_id): line
            for line in TransferLine.objects.select_for_update(of=("self",))
            .select_related("payout")
            .filter(batch_id__in=batches, payout_id__in={payout for _, _, payout, _ in rows})
        }
        problems = []
        for number, batch_id, payout_id, _ in rows:
            batch = batches.get(batch_id)
            line = lines.get((batch_id, payout_id))
            if batch is None:
                problems.append(f"{number}行目 batch_id: 振込バッチ {batch_id} はありません")
            elif batch.status != TransferBatch.Status.EXPORTED:
                problems.append(
                    f"{number}行目 batch_id: 振込バッチ {batch_id} は{batch.get_status_display()}です"
                    "（振込データを出力したバッチだけに組戻しがあります）"
                )
            elif line is None or line.outcome == TransferLine.Outcome.CANCELLED:
                problems.append(
                    f"{number}行目 customer_code: 振込バッチ {batch_id} に"
                    f"顧客コード {payout_id} の振込はありません"
                )
            elif line.outcome == "":
                moves = _return_path(line.payout.status)
                current = line.payout.status
                for step in moves:
                    if step not in PAYOUT_TRANSITIONS.get(current, set()):
                        problems.append(
                            f"{number}行目 customer_code: 顧客コード {payout_id} の支払は"
                            f"「{line.payout.get_status_display()}」"
                            "のため組戻しにできません"
                        )
                        break
                    current = step
        if problems:
            raise ReturnsFileError(name, problems)
        for _, batch_id, payout_id, reason in rows:
            line = lines[(batch_id, payout_id)]
            if line.outcome == TransferLine.Outcome.RETURNED:
                result.already += 1
                continue
            line.outcome, line.outcome_at, line.return_reason = TransferLine.Outcome.RETURNED, now, reason
            line.save(update_fields=["outcome", "outcome_at", "return_reason"])
            for step in _return_path(line.payout.status):
                payout_transition(
                    line.payout, step, actor=actor, note=f"組戻し（振込バッチ #{batch_id}）: {reason}"
                )
            payout = Payout.objects.get(pk=payout_id)
            result.returned += 1
            result.total_yen += line.amount_yen
            if _ask_for_account(payout, amount_yen=line.amount_yen):
                result.notified += 1
            else:
                result.not_notified.append(payout.pk)
    return result


def _ask_for_account(payout: Payout, *, amount_yen: int) -> bool:
    """Ask the traveller, through the outbox, to give the bank account again."""
    channel, to = getattr(payout, "contact_channel", ""), getattr(payout, "contact", "")
    if not channel or not to:
        return False
    message_enqueue(
        channel=channel,
        to=str(to),
        template="transfer_returned",
        context={"amount_yen": f"{amount_yen:,}", "inquiry_number": payout.inquiry_number},
        reference=f"payout:{payout.pk}",
    )
    return True
