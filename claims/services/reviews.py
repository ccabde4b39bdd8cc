"""要確認 holds money (DOMAIN.md): a flagged decision is not paid until a person resolves the flag.

The engine flags a decision when later data reads differently, keeping both readings on the row
(``amount_yen``/``final_balance_yen`` as recorded, ``review_amount_yen``/``review_final_yen`` as
read now). A person resolves the flag by accepting the new reading, keeping the recorded one, or
rejecting the decision, always with a reason; the resolution records who, why and which reading
was seen, and the engine does not flag that same reading again. One by one or in bulk (each in
its own transaction: one refusal does not undo the others).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import transaction

from claims.models import Entitlement, ReviewResolution
from claims.services.transitions import TransitionError, allowed, entitlement_transition
from config import clock

Outcome = ReviewResolution.Outcome
Status = Entitlement.Status


class ReviewError(Exception):
    """The flag cannot be resolved this way; the message says why, in Japanese."""


def entitlement_review_resolve(*, entitlement_id: int, outcome: str, actor: User, reason: str) -> Entitlement:
    """Resolve one 要確認 flag: ``accept`` records the engine's new reading (amount, and final
    amount of the decision that carries the coupon's payment), ``keep`` keeps the recorded one,
    ``reject`` decides the entitlement is not owed. Locks the row; refuses a decision that is not
    (or no longer) flagged, and changes nothing then."""
    if outcome not in {Outcome.ACCEPT, Outcome.KEEP, Outcome.REJECT}:
        raise ReviewError("解決の方法を選んでください（新しい金額を採用・記録の金額のまま・対象外）")
    if not reason.strip():
        raise ReviewError("解決の理由を入力してください")
    with transaction.atomic():
        entitlement = Entitlement.objects.select_for_update().get(pk=entitlement_id)
        if not entitlement.needs_review:
            raise ReviewError(f"{entitlement}: 要確認ではありません（すでに解決済みの可能性があります）")
        ReviewResolution.objects.create(
            entitlement=entitlement,
            outcome=outcome,
            review_note=entitlement.review_note,
            seen_amount_yen=entitlement.review_amount_yen,
            seen_final_yen=entitlement.review_final_yen,
            reason=reason.strip(),
            actor=actor,
            at=clock.now(),
        )
        to = _status_after(entitlement, outcome)
        changes: dict[str, object] = {
            "needs_review": False,
            "review_note": "",
            "review_amount_yen": None,
            "review_final_yen": None,
        }
        if outcome == Outcome.ACCEPT:
            if entitlement.review_amount_yen is not None:
                changes["amount_yen"] = entitlement.review_amount_yen
            if entitlement.final_balance_yen is not None and entitlement.review_final_yen is not None:
                changes["final_balance_yen"] = entitlement.review_final_yen
        if to is not None and to != entitlement.status:
            return entitlement_transition(
                entitlement_id=entitlement.pk,
                to=to,
                actor=actor,
                note=f"要確認の解決（{Outcome(outcome).label}）: {reason.strip()}",
                changes=changes,
            )
        for name, value in changes.items():
            setattr(entitlement, name, value)
        entitlement.save(update_fields=list(changes))
    return entitlement


def _status_after(entitlement: Entitlement, outcome: str) -> str | None:
    if outcome == Outcome.REJECT:
        if not allowed(entitlement.status, Status.REJECTED):
            raise ReviewError(
                f"{entitlement}: 「{entitlement.get_status_display()}」の判定は対象外にできません"
            )
        return Status.REJECTED
    if outcome == Outcome.ACCEPT and entitlement.status in {Status.PAYABLE, Status.USED_UP}:
        final = entitlement.review_final_yen
        if final is not None:
            return Status.PAYABLE if final > 0 else Status.USED_UP
    return None


@dataclass
class BulkResolution:
    resolved: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def entitlement_reviews_resolve(
    *, entitlement_ids: list[int], outcome: str, actor: User, reason: str
) -> BulkResolution:
    """The same resolution for many flags, each in its own transaction; the refusals are
    reported with their reason, the others stand."""
    result = BulkResolution()
    for entitlement_id in entitlement_ids:
        try:
            entitlement_review_resolve(
                entitlement_id=entitlement_id, outcome=outcome, actor=actor, reason=reason
            )
        except (ReviewError, TransitionError) as exc:
            result.refused[entitlement_id] = str(exc)
        else:
            result.resolved.append(entitlement_id)
    return result
