"""Reinstatement (戻入) decided per payment movement — DOMAIN.md "A deduction is compensated once".

A person (the call desk, usually) confirms a 2-x candidate against the store's records and
reinstates the payments it stands on. Each payment movement is reinstated at most once, whatever
the category, channel or incident: :class:`~claims.models.Reinstatement` has a unique constraint on
the movement, and this service checks first for a friendly error. Before the incident's final
instant the decision becomes an instruction to the platform (its echo, a ``reinstatement``
movement carrying the instruction id, is what the final amount waits for); at or after it the
coupon is closed, nothing is sent, and the amount is paid directly with the final amount.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from claims.models import Entitlement, Instruction, Reinstatement
from claims.services.transitions import entitlement_transition
from config import clock
from coupons.models import CouponMovement

Status = Entitlement.Status


class ReinstatementError(Exception):
    """The reinstatement cannot be decided; the message says why, in Japanese."""


def reinstatable_movement_ids(entitlement: Entitlement) -> list[str]:
    """The payments a 2-x decision stands on that a reinstatement gives back: the duplicates of a
    2-2 candidate (its chains' first payments were owed), every paired payment of a 2-1."""
    key = (
        "duplicate_movement_ids"
        if entitlement.category == Entitlement.Category.DUPLICATE_2_2
        else "movement_ids"
    )
    return list(entitlement.evidence.get(key, []))


def reinstatement_decide(
    *,
    entitlement_id: int,
    movement_ids: list[str],
    actor: User | None,
    channel: str = Reinstatement.Channel.CALLCENTER,
    note: str = "",
) -> list[Reinstatement]:
    """Confirm a 2-x candidate (``found`` → ``extended``, or one already extended) and reinstate
    these payment movements of it; see the module doc. Refuses a movement the candidate does not
    stand on, or one already reinstated (by any channel), and then changes nothing."""
    wanted = sorted(set(movement_ids))
    with transaction.atomic():
        entitlement = (
            Entitlement.objects.select_for_update().select_related("incident").get(pk=entitlement_id)
        )
        if entitlement.category not in {Entitlement.Category.CASH_2_1, Entitlement.Category.DUPLICATE_2_2}:
            raise ReinstatementError(f"{entitlement}: 戻入は 2-1・2-2 の判定だけです")
        if not wanted or not set(wanted) <= set(reinstatable_movement_ids(entitlement)):
            raise ReinstatementError(f"{entitlement}: 判定の根拠にない取引は戻入できません")
        if entitlement.reinstatements.exists():
            raise ReinstatementError(f"{entitlement}: この判定の戻入はすでに決定済みです")
        taken = list(
            Reinstatement.objects.filter(movement_id__in=wanted).values_list("movement_id", flat=True)
        )
        if taken:
            raise ReinstatementError(
                f"取引 {', '.join(sorted(taken))} はすでに戻入済みです（二重の戻入はできません）"
            )
        payments = dict(
            CouponMovement.objects.filter(
                movement_id__in=wanted, coupon_id=entitlement.coupon_id, kind=CouponMovement.Kind.PAYMENT
            ).values_list("movement_id", "amount_yen")
        )
        if len(payments) != len(wanted):
            raise ReinstatementError(f"{entitlement}: このクーポンの決済ではない取引があります")
        if entitlement.status == Status.FOUND:
            entitlement_transition(
                entitlement_id=entitlement.pk,
                to=Status.EXTENDED,
                actor=actor,
                note=note or "店舗記録と照合し戻入",
            )
        elif entitlement.status != Status.EXTENDED:
            raise ReinstatementError(
                f"{entitlement}: 「{entitlement.get_status_display()}」の判定は戻入できません"
            )
        now = clock.now()
        incident = entitlement.incident
        instruction = None
        if now < incident.final_balance_at:
            instruction = Instruction.objects.create(
                instruction_id=f"{incident.code}:{entitlement.category}:reinstate:{entitlement.coupon_id}",
                entitlement=entitlement,
                action=Instruction.Action.REINSTATE,
                amount_yen=-sum(payments.values()),
                decided_at=now,
            )
        try:
            with transaction.atomic():
                return Reinstatement.objects.bulk_create(
                    Reinstatement(
                        entitlement=entitlement,
                        movement_id=movement_id,
                        amount_yen=-payments[movement_id],
                        channel=channel,
                        decided_at=now,
                        decided_by=actor,
                        instruction=instruction,
                        note=note,
                    )
                    for movement_id in wanted
                )
        except IntegrityError as exc:  # another channel got there first, after our check
            raise ReinstatementError(
                "同じ取引の戻入が同時に決定されました（二重の戻入はできません）"
            ) from exc
