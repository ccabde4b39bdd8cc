"""The call desk in the staff admin: the intake page (one box for the inquiry number), a case's
desk with the four answers and the decisions, the store search, and the supervisor's view.

Views parse input and call :mod:`callcenter.services`; a refused decision is answered on the same
page (409 when someone decided first, naming them; 403 without the permission)."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

import coupons.admin as coupons_admin
from callcenter.forms import BankForm, CaseForm, OtherForm, ReasonForm, RejectForm
from callcenter.lookups import (
    JST,
    check_answers,
    coupon_overview,
    find_coupon,
    search_stores,
    stores_used,
    suggest_inquiry_numbers,
)
from callcenter.models import CallCase, CallCaseEvent, CallDecision
from callcenter.services import (
    APPROVE_PERMISSION,
    AlreadyApproved,
    AlreadyDecided,
    Answers,
    BankDetailsInvalid,
    DecisionError,
    NotPermitted,
    bank_account_take,
    call_case_confirm,
    call_case_open,
    call_case_open_other,
    call_case_reject,
    call_case_request_extension,
    call_case_update,
    call_decision_approve,
    call_decision_reopen,
    extension_request_deadline_passed,
)
from claims.admin import IncidentChoice, _choose_incident, chosen_incident
from claims.models import Entitlement
from config import clock

VIEW = "callcenter.view_callcase"


def _coupon_desk_link(request: HttpRequest, coupon) -> list[dict]:
    """On the coupon's page: take a call about it on the intake page."""
    if not request.user.has_perm(VIEW):
        return []
    url = reverse("admin:callcenter_intake") + "?" + urlencode({"q": coupon.pk})
    return [{"label": "電話の受付でこのクーポンを開く", "detail": "", "url": url}]


coupons_admin.add_coupon_related(_coupon_desk_link)


class CaseEventInline(admin.TabularInline):
    model = CallCaseEvent
    extra = 0
    fields = ["at", "kind", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallCase)
class CallCaseAdmin(admin.ModelAdmin):
    list_display = ["number", "opened_at", "coupon_id", "caller_name", "group", "status", "outcome", "agent"]
    list_filter = ["status", "outcome", "group"]
    list_select_related = ["agent"]
    search_fields = ["=coupon__inquiry_number", "caller_name"]
    change_list_template = "admin/callcenter/callcase/change_list.html"

    @admin.display(description="番号", ordering="pk")
    def number(self, obj: CallCase) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:callcenter_desk", args=[obj.pk]), obj.pk)

    def has_add_permission(self, request) -> bool:
        return False  # cases open from the intake page

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # cases change through the desk's services, with the timeline kept

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:callcenter_desk", int(object_id))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("intake/", wrap(self.intake_view), name="callcenter_intake"),
            path("stores/", wrap(self.stores_view), name="callcenter_stores"),
            path("supervisor/", wrap(self.supervisor_view), name="callcenter_supervisor"),
            path("<int:pk>/desk/", wrap(self.desk_view), name="callcenter_desk"),
            path("decision/<int:pk>/<str:action>/", wrap(self.decision_view), name="callcenter_decision"),
            *super().get_urls(),
        ]

    # --- pages -----------------------------------------------------------------------------------

    def _context(self, request: HttpRequest, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "can_decide": request.user.has_perm("callcenter.add_callcase"),
            "can_approve": request.user.has_perm(APPROVE_PERMISSION),
            **extra,
        }

    def intake_view(self, request: HttpRequest) -> HttpResponse:
        """ONE box: the inquiry number in any shape → the coupon and everything about it."""
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        try:
            incident = chosen_incident(request)
        except IncidentChoice:
            return _choose_incident(request, self.admin_site)
        if request.method == "POST":
            if not request.user.has_perm("callcenter.add_callcase"):
                raise PermissionDenied
            form = CaseForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                case = call_case_open(
                    incident=incident,
                    agent=request.user,
                    answers=_answers(data, _pick_store(data, find_coupon(data["inquiry_number"]), incident)),
                    caller_name=data["caller_name"],
                    callback_number=str(data["callback_number"] or ""),
                    group=data["group"],
                    notes=data["notes"],
                )
                messages.success(request, f"対応 #{case.pk} を開始しました。")
                return redirect("admin:callcenter_desk", case.pk)
            query = request.POST.get("inquiry_number", "")
        else:
            query = request.GET.get("q", "")
            form = None
        coupon = find_coupon(query) if query else None
        overview = coupon_overview(coupon, incident) if coupon else None
        if form is None and coupon is not None:
            form = CaseForm(initial={"inquiry_number": coupon.inquiry_number})
        context = self._context(
            request,
            "電話の受付",
            query=query,
            coupon=coupon,
            overview=overview,
            form=form,
            suggestions=suggest_inquiry_numbers(query) if query and coupon is None else None,
            incident=incident,
        )
        return TemplateResponse(request, "admin/callcenter/intake.html", context)

    def desk_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        case = get_object_or_404(
            CallCase.objects.select_related("coupon", "agent", "answered_store", "incident"), pk=pk
        )
        status = 200
        error = ""
        form = None
        bank_form = BankForm()
        if request.method == "POST":
            try:
                done = self._act(request, case)
            except BankDetailsInvalid as exc:
                bank_form = BankForm(request.POST)
                bank_form.is_valid()
                for key, sentences in exc.errors.items():
                    for sentence in sentences:
                        bank_form.add_error(key if key in bank_form.fields else None, sentence)
                error, status = "口座情報を確かめてください（各欄の説明をご覧ください）。", 400
            except AlreadyDecided as exc:
                error, status = str(exc), 409
            except NotPermitted as exc:
                error, status = str(exc), 403
            except DecisionError as exc:
                error, status = str(exc), 400
            else:
                if isinstance(done, BankForm):
                    bank_form, status = done, 400
                elif isinstance(done, CaseForm):
                    form, status = done, 400
                else:
                    messages.success(request, done)
                    return redirect("admin:callcenter_desk", case.pk)
            case.refresh_from_db()
        overview = coupon_overview(case.coupon, case.incident) if case.coupon else None
        if form is None:
            form = CaseForm(
                initial={
                    "caller_name": case.caller_name,
                    "callback_number": case.callback_number,
                    "inquiry_number": case.answered_inquiry_number,
                    "expires_on": case.answered_expires_on,
                    "prefecture_code": case.answered_prefecture_code,
                    "store_text": case.answered_store_text,
                    "group": case.group,
                    "notes": case.notes,
                }
            )
        store_candidates = []
        if case.answered_store_text and not case.answered_store_id:
            store_candidates = search_stores(
                case.answered_store_text,
                prefer=[s.store_id for s in overview.stores_used] if overview else None,
            )
        context = self._context(
            request,
            f"対応 #{case.pk}",
            case=case,
            overview=overview,
            coupon=case.coupon,
            checks=check_answers(case, overview),
            form=form,
            bank_form=bank_form,
            bank_accounts=(
                list(case.coupon.bank_accounts.order_by("-created_at", "-pk")[:5]) if case.coupon else []
            ),
            error=error,
            store_candidates=store_candidates,
            events=case.events.select_related("actor", "decision"),
            decisions=case.decisions.select_related(
                "entitlement", "decided_by", "approved_by", "withdrawn_by"
            ),
            deadline_passed=extension_request_deadline_passed(case.incident),
            incident=case.incident,
        )
        return TemplateResponse(request, "admin/callcenter/desk.html", context, status=status)

    def _act(self, request: HttpRequest, case: CallCase) -> str | CaseForm | BankForm:
        action = request.POST.get("action", "")
        user = request.user
        if action in {"confirm", "extension", "reject"}:
            entitlement_id = _int(request.POST.get("entitlement_id"))
        if action == "update":
            form = CaseForm(request.POST)
            if not form.is_valid():
                return form
            data = form.cleaned_data
            call_case_update(
                case_id=case.pk,
                actor=user,
                answers=_answers(data, _pick_store(data, case.coupon, case.incident)),
                caller_name=data["caller_name"],
                callback_number=str(data["callback_number"] or ""),
                group=data["group"],
                notes=data["notes"],
            )
            return "聞き取り内容を保存しました。"
        if action == "pick_store":
            data = {
                "caller_name": case.caller_name,
                "callback_number": str(case.callback_number or ""),
                "group": case.group,
                "notes": case.notes,
            }
            call_case_update(
                case_id=case.pk,
                actor=user,
                answers=Answers(
                    inquiry_number=case.answered_inquiry_number,
                    expires_on=case.answered_expires_on,
                    prefecture_code=case.answered_prefecture_code,
                    store_id=request.POST.get("store_id", ""),
                    store_text=case.answered_store_text,
                ),
                **data,
            )
            return "利用店舗を選びました。"
        if action == "confirm":
            chosen = request.POST.getlist("movement_ids") or None
            decision = call_case_confirm(
                case_id=case.pk, entitlement_id=entitlement_id, actor=user, movement_ids=chosen
            )
            if decision.status == CallDecision.Status.WAITING:
                amount = f"{decision.amount_yen:,}"
                return f"戻入 {amount} 円は承認が必要な額を超えるため、責任者の承認待ちにしました。"
            return f"確認しました: 有効期限を延長し、{decision.amount_yen:,} 円を戻入します。"
        if action == "extension":
            call_case_request_extension(case_id=case.pk, entitlement_id=entitlement_id, actor=user)
            return "1-2 の延長の申出を受け付け、有効期限を延長しました。"
        if action == "reject":
            form = RejectForm(request.POST)
            reason = form.data.get("reason", "")
            call_case_reject(case_id=case.pk, entitlement_id=entitlement_id, actor=user, reason=reason)
            return "対象外として記録しました。"
        if action == "bank":
            bank_form = BankForm(request.POST)
            if not bank_form.is_valid():
                return bank_form
            account = bank_account_take(case_id=case.pk, actor=user, details=bank_form.details())
            return (
                f"振込先口座を登録しました（{account.bank_name} {account.branch_name} "
                f"{account.get_account_type_display()} {account.masked_number}）。"
            )
        if action == "other":
            other = OtherForm(data=request.POST)
            if not other.is_valid():
                raise DecisionError("何があったかと、補償額（1 円以上の整数）を入力してください")
            call_case_open_other(
                case_id=case.pk,
                actor=user,
                description=other.cleaned_data["description"],
                amount_yen=other.cleaned_data["amount_yen"],
            )
            return "その他の補償を登録しました。責任者の承認待ちです。"
        raise DecisionError("操作が分かりません。画面を読み込み直してください")

    def decision_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        """Approve or take back a decision (supervisors); answered with the case's desk page."""
        decision = get_object_or_404(CallDecision, pk=pk)
        if request.method != "POST":
            return redirect("admin:callcenter_desk", decision.case_id)
        try:
            if action == "approve":
                call_decision_approve(decision_id=pk, actor=request.user)
                message = "承認しました。"
            elif action == "reopen":
                call_decision_reopen(
                    decision_id=pk, actor=request.user, reason=ReasonForm(request.POST).data.get("reason", "")
                )
                message = "決定をやり直しました。対応は再び「対応中」です。"
            else:
                raise DecisionError("操作が分かりません")
        except (AlreadyApproved, AlreadyDecided) as exc:
            return self._refused(request, decision, str(exc), 409)
        except NotPermitted as exc:
            return self._refused(request, decision, str(exc), 403)
        except DecisionError as exc:
            return self._refused(request, decision, str(exc), 400)
        messages.success(request, message)
        return redirect(request.POST.get("next") or reverse("admin:callcenter_desk", args=[decision.case_id]))

    def _refused(self, request, decision: CallDecision, error: str, status: int) -> HttpResponse:
        request.method = "GET"
        response = self.desk_view(request, decision.case_id)
        response.context_data["error"] = error
        response.status_code = status
        return response

    def stores_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        query = request.GET.get("q", "")
        stores = search_stores(query, limit=50) if query else []
        context = self._context(request, "利用店舗を探す", query=query, stores=stores)
        return TemplateResponse(request, "admin/callcenter/stores.html", context)

    def supervisor_view(self, request: HttpRequest) -> HttpResponse:
        """Open cases by age, decisions waiting for approval, each agent's decisions today, and the
        1-2 requests against the deadline."""
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        try:
            incident = chosen_incident(request)
        except IncidentChoice:
            return _choose_incident(request, self.admin_site)
        now = clock.now()
        today_start = now.astimezone(JST).replace(hour=0, minute=0, second=0, microsecond=0)
        open_cases = list(
            CallCase.objects.exclude(status=CallCase.Status.CLOSED)
            .select_related("agent")
            .order_by("opened_at", "pk")[:200]
        )
        for case in open_cases:
            case.age = now - case.opened_at
        waiting = list(
            CallDecision.objects.filter(status=CallDecision.Status.WAITING)
            .select_related("entitlement", "decided_by", "case")
            .order_by("decided_at")
        )
        per_agent = list(
            CallDecision.objects.filter(decided_at__gte=today_start)
            .values("decided_by__username", "decided_by__last_name", "decided_by__first_name")
            .annotate(
                total=Count("pk"),
                confirmed=Count("pk", filter=Q(kind="confirm")),
                extensions=Count("pk", filter=Q(kind="extension_request")),
                rejected=Count("pk", filter=Q(kind="reject")),
                other=Count("pk", filter=Q(kind="other")),
                waiting=Count("pk", filter=Q(status="waiting")),
            )
            .order_by("-total", "decided_by__username")
        )
        requests_1_2 = {}
        if incident:
            group = Entitlement.objects.filter(incident=incident, category=Entitlement.Category.LEFT_1_2)
            requests_1_2 = {
                "deadline": incident.group_1_2_request_deadline,
                "days_left": (incident.group_1_2_request_deadline - now.astimezone(JST).date()).days,
                "requested": CallDecision.objects.filter(
                    kind="extension_request", status="effective", entitlement__incident=incident
                ).count(),
                "not_yet": group.filter(status=Entitlement.Status.FOUND).count(),
                "total": group.count(),
                "recent": list(
                    CallDecision.objects.filter(kind="extension_request", entitlement__incident=incident)
                    .select_related("decided_by", "entitlement")
                    .order_by("-decided_at")[:20]
                ),
            }
        context = self._context(
            request,
            "責任者の画面",
            open_cases=open_cases,
            waiting=waiting,
            per_agent=per_agent,
            requests_1_2=requests_1_2,
            today=today_start,
        )
        return TemplateResponse(request, "admin/callcenter/supervisor.html", context)


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError as exc:
        raise DecisionError("補償対象が選ばれていません") from exc


def _pick_store(data: dict, coupon, incident) -> str:
    """The store the caller named: the one chosen, else the only match among the stores the coupon
    was used at around the outage (found through the name index)."""
    if data.get("store_id"):
        return data["store_id"]
    text = data.get("store_text") or ""
    if not text or coupon is None:
        return ""
    used = set(stores_used(coupon, incident))
    matches = [s.store_id for s in search_stores(text, limit=50) if s.store_id in used]
    return matches[0] if len(matches) == 1 else ""


def _answers(data: dict, store_id: str) -> Answers:
    expires_on: dt.date | None = data.get("expires_on")
    return Answers(
        inquiry_number=data.get("inquiry_number") or "",
        expires_on=expires_on,
        prefecture_code=data.get("prefecture_code") or "",
        store_id=store_id,
        store_text=data.get("store_text") or "",
    )
