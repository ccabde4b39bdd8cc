"""The call desk's decisions (DOMAIN.md "What each gets", 2-1 / 2-2 / 1-2 / other).

Every decision is one transaction that first locks the entitlement it decides on, so two agents
pressing the same button at the same instant are served one after the other: the second finds the
first's decision and is told who took it and when (:class:`AlreadyDecided`). A partial unique
constraint (``calldecision_once_per_entitlement``) is the last line of defence. The entitlement's
status moves only through the engine's transition service, with the person as actor; where the
platform must act, an :class:`~claims.models.Instruction` with a stable id is written (exported
by ``export_instructions``). A 2-x or other decision at or after the incident's final instant
sends nothing to the platform: the coupon is closed and the amount is added to what is paid.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q

from callcenter.models import CallCase, CallCaseEvent, CallDecision
from claims.models import BankAccount, Entitlement, Incident, Instruction, Reinstatement
from claims.services.applications import ApplicationInvalid, bank_details_validate
from claims.services.reinstatements import ReinstatementError, reinstatable_movement_ids, reinstatement_decide
from claims.services.transitions import TransitionError, entitlement_transition
from config import clock
from coupons.inquiry import is_valid, normalize_inquiry_number
from coupons.models import Coupon, CouponMovement, Store

JST = ZoneInfo("Asia/Tokyo")
Category = Entitlement.Category
Status = Entitlement.Status
User = AbstractBaseUser | AnonymousUser

APPROVE_PERMISSION = "callcenter.approve_calldecision"
REOPEN_PERMISSION = "callcenter.reopen_calldecision"
DECIDE_PERMISSION = "callcenter.add_callcase"


class DecisionError(Exception):
    """A decision the desk refuses; ``str()`` is a Japanese sentence for the agent."""


class AlreadyDecided(DecisionError):
    """Someone decided first: the message names them and the time."""

    def __init__(self, decision: CallDecision) -> None:
        self.decision = decision
        who = _person(decision.decided_by)
        at = _jst(decision.decided_at)
        super().__init__(
            f"この補償対象は {at} に {who}が決定済みです（{decision.get_kind_display()}・"
            f"{decision.get_status_display()}）。画面を読み込み直して確認してください。"
        )


class AlreadyApproved(DecisionError):
    def __init__(self, decision: CallDecision) -> None:
        self.decision = decision
        if decision.status == CallDecision.Status.WITHDRAWN:
            who, at = _person(decision.withdrawn_by), _jst(decision.withdrawn_at)
            text = f"この決定は {at} に {who}がやり直し（取消）済みです。"
        else:
            who, at = _person(decision.approved_by), _jst(decision.approved_at)
            text = f"この決定は {at} に {who}が承認済みです。"
        super().__init__(text)


class NotPermitted(DecisionError):
    pass


def _person(user) -> str:
    if user is None:
        return "（不明）"
    full = f"{user.last_name} {user.first_name}".strip()
    return f"{full}さん（{user.username}）" if full else f"{user.username}さん"


def _jst(at: dt.datetime | None) -> str:
    return at.astimezone(JST).strftime("%Y年%-m月%-d日 %H:%M:%S") if at else "（不明）"


def _require(user, permission: str, message: str) -> None:
    if not user.has_perm(permission):
        raise NotPermitted(message)


def _event(
    case: CallCase,
    *,
    kind: str,
    actor,
    note: str = "",
    decision: CallDecision | None = None,
    from_status: str = "",
    to_status: str = "",
) -> None:
    CallCaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        note=note,
        decision=decision,
        from_status=from_status,
        to_status=to_status,
        at=clock.now(),
    )


def _set_case_status(case: CallCase, *, status: str, outcome: str | None, actor, note: str, decision=None):
    previous = case.status
    case.status = status
    if outcome is not None:
        case.outcome = outcome
    case.closed_at = clock.now() if status == CallCase.Status.CLOSED else None
    case.save(update_fields=["status", "outcome", "closed_at"])
    _event(
        case,
        kind=CallCaseEvent.Kind.DECIDED,
        actor=actor,
        note=note,
        decision=decision,
        from_status=previous,
        to_status=status,
    )


# --- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answers:
    """The four answers of DOMAIN.md (2-1/2-2 step 1), as the agent entered them."""

    inquiry_number: str = ""
    expires_on: dt.date | None = None
    prefecture_code: str = ""
    store_id: str = ""
    store_text: str = ""


def call_case_open(
    *,
    incident: Incident,
    agent,
    answers: Answers,
    caller_name: str = "",
    callback_number: str = "",
    group: str = "",
    notes: str = "",
) -> CallCase:
    """Open a case for a call; the coupon is linked when the inquiry number names one."""
    _require(agent, DECIDE_PERMISSION, "コールセンターの対応を登録する権限がありません")
    number = normalize_inquiry_number(answers.inquiry_number)
    coupon = Coupon.objects.filter(pk=number).first() if is_valid(number) else None
    store = Store.objects.filter(pk=answers.store_id).first() if answers.store_id else None
    with transaction.atomic():
        case = CallCase.objects.create(
            incident=incident,
            coupon=coupon,
            caller_name=caller_name.strip(),
            callback_number=callback_number,
            answered_inquiry_number=number,
            answered_expires_on=answers.expires_on,
            answered_prefecture_code=answers.prefecture_code,
            answered_store=store,
            answered_store_text=answers.store_text.strip(),
            group=group,
            notes=notes,
            agent=agent,
            opened_at=clock.now(),
        )
        _event(case, kind=CallCaseEvent.Kind.OPENED, actor=agent, to_status=case.status)
    return case


def call_case_update(
    *,
    case_id: int,
    actor,
    answers: Answers,
    caller_name: str,
    callback_number: str,
    group: str,
    notes: str,
) -> CallCase:
    """Change what was heard on the call; the timeline keeps what changed and who changed it."""
    _require(actor, DECIDE_PERMISSION, "コールセンターの対応を変更する権限がありません")
    store = Store.objects.filter(pk=answers.store_id).first() if answers.store_id else None
    with transaction.atomic():
        case = CallCase.objects.select_for_update().get(pk=case_id)
        before = {
            "お名前": case.caller_name,
            "折り返し電話番号": str(case.callback_number or ""),
            "有効期限": str(case.answered_expires_on or ""),
            "都道府県": case.answered_prefecture_code,
            "利用店舗": case.answered_store_id or "",
            "利用店舗（聞き取り）": case.answered_store_text,
            "区分": case.group,
            "メモ": case.notes,
        }
        case.caller_name = caller_name.strip()
        case.callback_number = callback_number
        case.answered_expires_on = answers.expires_on
        case.answered_prefecture_code = answers.prefecture_code
        case.answered_store = store
        case.answered_store_text = answers.store_text.strip()
        case.group = group
        case.notes = notes
        case.full_clean(exclude=["incident", "coupon", "agent"])
        case.save()
        after = {
            "お名前": case.caller_name,
            "折り返し電話番号": str(case.callback_number or ""),
            "有効期限": str(case.answered_expires_on or ""),
            "都道府県": case.answered_prefecture_code,
            "利用店舗": case.answered_store_id or "",
            "利用店舗（聞き取り）": case.answered_store_text,
            "区分": case.group,
            "メモ": case.notes,
        }
        changed = [name for name in before if before[name] != after[name]]
        if changed:
            _event(case, kind=CallCaseEvent.Kind.ANSWERS, actor=actor, note="変更: " + "、".join(changed))
    return case


# --- deciding ------------------------------------------------------------------------------------


def _lock(*, case_id: int, entitlement_id: int) -> tuple[CallCase, Entitlement]:
    """Lock the entitlement (what is decided on) first, then the case, always in that order."""
    entitlement = Entitlement.objects.select_for_update().select_related("incident").get(pk=entitlement_id)
    standing = (
        CallDecision.objects.filter(entitlement=entitlement, status__in=["waiting", "effective"])
        .select_related("decided_by")
        .first()
    )
    if standing is not None:
        raise AlreadyDecided(standing)
    case = CallCase.objects.select_for_update().get(pk=case_id)
    if case.coupon_id != entitlement.coupon_id:
        raise DecisionError("この対応のクーポンと補償対象のクーポンが違います")
    if entitlement.incident_id != case.incident_id:
        raise DecisionError("この対応の障害と補償対象の障害が違います")
    return case, entitlement


def _platform_open(incident: Incident) -> bool:
    """Before the final instant the platform still runs the coupon and applies instructions."""
    return clock.now() < incident.final_balance_at


def _extend(entitlement: Entitlement, *, actor, note: str, instruct: bool = True) -> None:
    """found → extended through the engine's transition (which sets the incident's extension end),
    with the extension instruction."""
    incident = entitlement.incident
    entitlement_transition(entitlement_id=entitlement.pk, to=Status.EXTENDED, actor=actor, note=note)
    if instruct and _platform_open(incident):
        Instruction.objects.get_or_create(
            instruction_id=f"{incident.code}:{entitlement.category}:extend:{entitlement.coupon_id}",
            defaults={
                "entitlement": entitlement,
                "action": Instruction.Action.EXTEND_VALIDITY,
                "valid_until": incident.extension_valid_until,
                "decided_at": clock.now(),
            },
        )


def _reinstate(decision: CallDecision) -> None:
    """Reinstate the decision's payments through the rules' room's one writer of reinstatements
    (:func:`~claims.services.reinstatements.reinstatement_decide`): one row per payment movement,
    never twice for a movement whatever the channel, and the instruction to the platform before
    the final instant. The entitlement is already extended (``_extend``), so it is not moved again.
    The person recorded is the agent who decided; an approval is in the case's timeline."""
    try:
        reinstatement_decide(
            entitlement_id=decision.entitlement_id,
            movement_ids=list(decision.movement_ids),
            actor=decision.decided_by,
            channel=Reinstatement.Channel.CALLCENTER,
            note=f"コールセンター 対応 #{decision.case_id}",
        )
    except ReinstatementError as exc:
        raise DecisionError(str(exc)) from exc


def _apply(decision: CallDecision, *, actor) -> None:
    """Carry out a decision that is in effect (at once, or on its approval)."""
    entitlement = decision.entitlement
    Kind = CallDecision.Kind
    if decision.kind == Kind.CONFIRM:
        _extend(
            entitlement,
            actor=actor,
            note=(
                f"コールセンターで店舗の記録と照合し確認（対応 #{decision.case_id}）。"
                f"戻入 {decision.amount_yen:,} 円"
            ),
        )
        _reinstate(decision)
    elif decision.kind == Kind.EXTENSION_REQUEST:
        _extend(entitlement, actor=actor, note=f"1-2 延長の申出を受付（対応 #{decision.case_id}）")
    elif decision.kind == Kind.OTHER:
        # An "other" amount is paid as decided; the coupon's validity is not the platform's business.
        _extend(
            entitlement, actor=actor, note=f"その他の補償を承認（対応 #{decision.case_id}）", instruct=False
        )
    elif decision.kind == Kind.REJECT:
        entitlement_transition(
            entitlement_id=entitlement.pk, to=Status.REJECTED, actor=actor, note=decision.reason
        )


def _decide(
    *,
    case: CallCase,
    entitlement: Entitlement,
    kind: str,
    actor,
    amount_yen: int = 0,
    movement_ids: list[str] | None = None,
    reason: str = "",
    needs_approval: bool = False,
) -> CallDecision:
    now = clock.now()
    decision = CallDecision.objects.create(
        case=case,
        entitlement=entitlement,
        kind=kind,
        status=CallDecision.Status.WAITING if needs_approval else CallDecision.Status.EFFECTIVE,
        amount_yen=amount_yen,
        movement_ids=movement_ids or [],
        reason=reason,
        decided_by=actor,
        decided_at=now,
    )
    outcome = {
        CallDecision.Kind.CONFIRM: CallCase.Outcome.CONFIRMED,
        CallDecision.Kind.EXTENSION_REQUEST: CallCase.Outcome.EXTENSION_REQUESTED,
        CallDecision.Kind.REJECT: CallCase.Outcome.REJECTED,
        CallDecision.Kind.OTHER: CallCase.Outcome.OTHER,
    }[CallDecision.Kind(kind)]
    if needs_approval:
        _set_case_status(
            case,
            status=CallCase.Status.WAITING,
            outcome=outcome,
            actor=actor,
            note=f"{decision.get_kind_display()}（{amount_yen:,} 円）: 責任者の承認待ち",
            decision=decision,
        )
    else:
        _apply(decision, actor=actor)
        _set_case_status(
            case,
            status=CallCase.Status.CLOSED,
            outcome=outcome,
            actor=actor,
            note=f"{decision.get_kind_display()}" + (f"（{amount_yen:,} 円）" if amount_yen else ""),
            decision=decision,
        )
    return decision


def call_case_confirm(
    *, case_id: int, entitlement_id: int, actor, movement_ids: list[str] | None = None
) -> CallDecision:
    """2-1 / 2-2: the four answers match the store's records → extend to the incident's extension
    end and reinstate the wrongly deducted amount (DOMAIN.md 2-1/2-2 step 2). Only payments in the
    engine's evidence can be reinstated, so the amount never exceeds what the evidence shows;
    above the incident's threshold the decision waits for a supervisor."""
    _require(actor, DECIDE_PERMISSION, "確認・戻入を決定する権限がありません")
    with transaction.atomic():
        case, entitlement = _lock(case_id=case_id, entitlement_id=entitlement_id)
        if entitlement.category not in (Category.CASH_2_1, Category.DUPLICATE_2_2):
            raise DecisionError("延長・戻入の確認は 2-1 と 2-2 の候補だけです")
        if entitlement.status != Status.FOUND:
            raise DecisionError(
                f"この候補は「{entitlement.get_status_display()}」のため確認できません（確認待ちのときだけ）"
            )
        if entitlement.needs_review:
            raise DecisionError("この候補は要確認です。要確認を解消してから確認してください")
        evidence_ids = reinstatable_movement_ids(entitlement)
        chosen = list(dict.fromkeys(movement_ids)) if movement_ids is not None else evidence_ids
        if not chosen:
            raise DecisionError("戻入する取引を選んでください")
        outside = [movement for movement in chosen if movement not in evidence_ids]
        if outside:
            raise DecisionError(f"根拠にない取引は戻入できません: {', '.join(outside)}")
        taken = sorted(
            Reinstatement.objects.filter(movement_id__in=chosen).values_list("movement_id", flat=True)
        )
        if taken:
            raise DecisionError(f"取引 {', '.join(taken)} はすでに戻入済みです（二重の戻入はできません）")
        payments = CouponMovement.objects.filter(
            movement_id__in=chosen, coupon_id=entitlement.coupon_id, kind=CouponMovement.Kind.PAYMENT
        ).values_list("amount_yen", flat=True)
        amount = -sum(payments)
        if len(payments) != len(chosen) or amount <= 0:
            raise DecisionError("根拠の取引が台帳に見つかりません。判定をやり直してから確認してください")
        if amount > entitlement.amount_yen:
            raise DecisionError(f"戻入額 {amount:,} 円が根拠の額 {entitlement.amount_yen:,} 円を超えています")
        threshold = entitlement.incident.reinstatement_approval_threshold_yen
        return _decide(
            case=case,
            entitlement=entitlement,
            kind=CallDecision.Kind.CONFIRM,
            actor=actor,
            amount_yen=amount,
            movement_ids=sorted(chosen),
            needs_approval=amount > threshold,
        )


def extension_request_deadline_passed(incident: Incident, *, at: dt.datetime | None = None) -> bool:
    """1-2: the traveller reports by the deadline date, Japan time, on the portal's clock."""
    today = (at or clock.now()).astimezone(JST).date()
    return today > incident.group_1_2_request_deadline


def call_case_request_extension(*, case_id: int, entitlement_id: int, actor) -> CallDecision:
    """1-2: record the traveller's request; the validity is extended to the incident's extension end
    (DOMAIN.md 1-2 step 1). Refused after the deadline on the incident (2023-03-27, Japan time)."""
    _require(actor, DECIDE_PERMISSION, "延長の申出を登録する権限がありません")
    with transaction.atomic():
        case, entitlement = _lock(case_id=case_id, entitlement_id=entitlement_id)
        incident = entitlement.incident
        if entitlement.category != Category.LEFT_1_2:
            raise DecisionError("延長の申出を受け付けるのは 1-2 だけです")
        if extension_request_deadline_passed(incident):
            deadline = incident.group_1_2_request_deadline
            today = clock.now().astimezone(JST).date()
            raise DecisionError(
                "1-2 の延長の申出は "
                f"{deadline.year}年{deadline.month}月{deadline.day}日（日本時間）までです。"
                f"本日は {today.month}月{today.day}日のため受け付けられません。"
            )
        if entitlement.status != Status.FOUND:
            raise DecisionError(f"この補償対象は「{entitlement.get_status_display()}」です")
        return _decide(
            case=case, entitlement=entitlement, kind=CallDecision.Kind.EXTENSION_REQUEST, actor=actor
        )


def call_case_reject(*, case_id: int, entitlement_id: int, actor, reason: str) -> CallDecision:
    """The store's records do not bear the traveller out: the candidate is not owed, with a reason."""
    _require(actor, DECIDE_PERMISSION, "対象外を決定する権限がありません")
    if not reason.strip():
        raise DecisionError("対象外とする理由を入力してください")
    with transaction.atomic():
        case, entitlement = _lock(case_id=case_id, entitlement_id=entitlement_id)
        if entitlement.status != Status.FOUND:
            raise DecisionError(
                f"この補償対象は「{entitlement.get_status_display()}」のため対象外にできません"
            )
        return _decide(
            case=case,
            entitlement=entitlement,
            kind=CallDecision.Kind.REJECT,
            actor=actor,
            reason=reason.strip(),
        )


def call_case_open_other(*, case_id: int, actor, description: str, amount_yen: int) -> CallDecision:
    """ "other": the desk describes what went wrong and the amount; a supervisor approves it before
    it counts (an entitlement of category other, route call center)."""
    _require(actor, DECIDE_PERMISSION, "その他の補償を登録する権限がありません")
    if not description.strip():
        raise DecisionError("何があったかを入力してください")
    if amount_yen <= 0:
        raise DecisionError("補償額は 1 円以上で入力してください")
    with transaction.atomic():
        case = CallCase.objects.select_for_update().select_related("incident").get(pk=case_id)
        if case.coupon_id is None:
            raise DecisionError("クーポンが特定できない対応には、その他の補償を登録できません")
        existing = (
            Entitlement.objects.select_for_update()
            .filter(incident=case.incident, coupon_id=case.coupon_id, category=Category.OTHER)
            .first()
        )
        if existing is not None:
            standing = (
                CallDecision.objects.filter(entitlement=existing, status__in=["waiting", "effective"])
                .select_related("decided_by")
                .first()
            )
            if standing is not None:
                raise AlreadyDecided(standing)
            if existing.status != Status.FOUND:
                raise DecisionError(f"このクーポンのその他の補償は「{existing.get_status_display()}」です")
            existing.amount_yen = amount_yen
            existing.evidence = {"description": description.strip(), "call_case": case.pk}
            existing.save(update_fields=["amount_yen", "evidence"])
            entitlement = existing
        else:
            entitlement = Entitlement.objects.create(
                incident=case.incident,
                coupon_id=case.coupon_id,
                category=Category.OTHER,
                route=Entitlement.Route.CALLCENTER,
                status=Status.FOUND,
                amount_yen=amount_yen,
                evidence={"description": description.strip(), "call_case": case.pk},
                found_at=clock.now(),
            )
            entitlement.status_changes.create(
                from_status="", to_status=Status.FOUND, actor=actor, note=description.strip(), at=clock.now()
            )
        return _decide(
            case=case,
            entitlement=entitlement,
            kind=CallDecision.Kind.OTHER,
            actor=actor,
            amount_yen=amount_yen,
            reason=description.strip(),
            needs_approval=True,
        )


class BankDetailsInvalid(DecisionError):
    """Bank details the agent must correct with the caller; ``errors`` maps each field (``bank_code``,
    ``holder_kana``, ...) to its sentences, as the site shows them."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("口座情報を確かめてください: " + " ".join(m for ms in errors.values() for m in ms))


OWED_STATUSES = (Status.FOUND, Status.EXTENDED, Status.PAYABLE)


def bank_account_take(*, case_id: int, actor, details: Mapping[str, Any]) -> BankAccount:
    """Take bank details on the caller's behalf for a refund by transfer (the notice's "those who
    do not want points", and 1-2's refund): validated by the site's own validator
    (:func:`claims.services.applications.bank_details_validate`) and stored, account number
    encrypted, as the site stores them. Only for a coupon the incident owes or may owe something;
    the newest account of a coupon is the one in force. The case's timeline keeps that it was taken
    and by whom (masked number only)."""
    _require(actor, DECIDE_PERMISSION, "振込先口座を受け付ける権限がありません")
    try:
        bank = bank_details_validate(details)
    except ApplicationInvalid as exc:
        raise BankDetailsInvalid(
            {key.removeprefix("payout."): [str(m) for m in messages] for key, messages in exc.errors.items()}
        ) from exc
    with transaction.atomic():
        case = CallCase.objects.select_for_update().get(pk=case_id)
        if case.coupon_id is None:
            raise DecisionError("クーポンが特定できない対応には、振込先口座を登録できません")
        owed = Entitlement.objects.filter(
            incident_id=case.incident_id, coupon_id=case.coupon_id, status__in=OWED_STATUSES
        ).exists()
        if not owed:
            raise DecisionError(
                "このクーポンには支払う補償がないため、振込先口座を登録できません（判定を確認してください）"
            )
        account = BankAccount.objects.create(
            coupon_id=case.coupon_id, created_at=clock.now(), **dataclasses.asdict(bank)
        )
        _event(
            case,
            kind=CallCaseEvent.Kind.BANK_DETAILS,
            actor=actor,
            note=(
                f"振込先: {bank.bank_name or bank.bank_code} {bank.branch_name or bank.branch_code} "
                f"{account.get_account_type_display()} {account.masked_number}"
            ),
        )
    return account


def call_decision_approve(*, decision_id: int, actor) -> CallDecision:
    """A supervisor approves a waiting decision (a reinstatement above the threshold, or an "other"
    case); it is then carried out. Approved once: a second supervisor is told who approved."""
    _require(actor, APPROVE_PERMISSION, "この決定を承認できるのは責任者だけです")
    entitlement_id = CallDecision.objects.values_list("entitlement_id", flat=True).get(pk=decision_id)
    with transaction.atomic():
        Entitlement.objects.select_for_update().get(pk=entitlement_id)
        decision = (
            CallDecision.objects.select_for_update()
            .select_related("entitlement__incident", "case")
            .get(pk=decision_id)
        )
        if decision.status != CallDecision.Status.WAITING:
            raise AlreadyApproved(decision)
        if decision.decided_by_id == actor.pk:
            raise NotPermitted("自分の決定は承認できません。別の責任者に依頼してください")
        decision.status = CallDecision.Status.EFFECTIVE
        decision.approved_by = actor
        decision.approved_at = clock.now()
        decision.save(update_fields=["status", "approved_by", "approved_at"])
        _apply(decision, actor=actor)
        case = CallCase.objects.select_for_update().get(pk=decision.case_id)
        previous = case.status
        case.status = CallCase.Status.CLOSED
        case.closed_at = clock.now()
        case.save(update_fields=["status", "closed_at"])
        _event(
            case,
            kind=CallCaseEvent.Kind.APPROVED,
            actor=actor,
            decision=decision,
            note=f"{decision.get_kind_display()}（{decision.amount_yen:,} 円）を承認",
            from_status=previous,
            to_status=case.status,
        )
    return decision


def call_decision_reopen(*, decision_id: int, actor, reason: str) -> CallDecision:
    """A supervisor takes back a decision so the case can be decided again: a rejection (the
    entitlement returns to found) or a decision still waiting for approval. A decision the platform
    has been told to act on cannot be taken back here."""
    _require(actor, REOPEN_PERMISSION, "決定のやり直しは責任者だけができます")
    if not reason.strip():
        raise DecisionError("やり直す理由を入力してください")
    entitlement_id = CallDecision.objects.values_list("entitlement_id", flat=True).get(pk=decision_id)
    with transaction.atomic():
        Entitlement.objects.select_for_update().get(pk=entitlement_id)
        decision = CallDecision.objects.select_for_update().select_related("entitlement").get(pk=decision_id)
        if decision.status == CallDecision.Status.WITHDRAWN:
            raise AlreadyApproved(decision)
        if decision.status == CallDecision.Status.EFFECTIVE:
            if decision.kind != CallDecision.Kind.REJECT:
                raise DecisionError(
                    "実行済みの延長・戻入はやり直せません（プラットフォームへの指示が出ています）"
                )
            entitlement_transition(
                entitlement_id=decision.entitlement_id,
                to=Status.FOUND,
                actor=actor,
                note=f"責任者がやり直し: {reason.strip()}",
            )
        decision.status = CallDecision.Status.WITHDRAWN
        decision.withdrawn_by = actor
        decision.withdrawn_at = clock.now()
        decision.withdrawn_reason = reason.strip()
        decision.save(update_fields=["status", "withdrawn_by", "withdrawn_at", "withdrawn_reason"])
        case = CallCase.objects.select_for_update().get(pk=decision.case_id)
        previous = case.status
        case.status = CallCase.Status.OPEN
        case.outcome = CallCase.Outcome.NONE
        case.closed_at = None
        case.save(update_fields=["status", "outcome", "closed_at"])
        _event(
            case,
            kind=CallCaseEvent.Kind.REOPENED,
            actor=actor,
            decision=decision,
            note=reason.strip(),
            from_status=previous,
            to_status=case.status,
        )
    return decision


def standing_decisions(entitlement_ids: list[int]) -> dict[int, CallDecision]:
    rows = CallDecision.objects.filter(
        Q(entitlement_id__in=entitlement_ids), status__in=["waiting", "effective"]
    ).select_related("decided_by", "approved_by")
    return {row.entitlement_id: row for row in rows}


__all__ = [
    "AlreadyApproved",
    "AlreadyDecided",
    "Answers",
    "BankDetailsInvalid",
    "DecisionError",
    "NotPermitted",
    "TransitionError",
    "bank_account_take",
    "call_case_confirm",
    "call_case_open",
    "call_case_open_other",
    "call_case_reject",
    "call_case_request_extension",
    "call_case_update",
    "call_decision_approve",
    "call_decision_reopen",
]
