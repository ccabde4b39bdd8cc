"""Staff admin of the rules' room: the incident (editable, with history), entitlements with their
evidence, eligibility runs with progress, the operations dashboard and the CSV downloads."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

import claims.admin_applications  # noqa: F401  (registers the applications' admin)
import coupons.admin as coupons_admin
from claims.models import (
    EligibilityRun,
    Entitlement,
    EntitlementStatusChange,
    Incident,
    Instruction,
    ReviewResolution,
)
from claims.services.applications import application_counts_by_day
from claims.services.eligibility import rules_digest
from claims.services.entitlements import TransitionError, entitlement_reject
from claims.services.exports import (
    ENTITLEMENT_COLUMNS,
    INSTRUCTION_COLUMNS,
    csv_lines,
    entitlement_rows,
    instruction_rows,
)
from claims.services.reviews import entitlement_reviews_resolve
from claims.services.runs import EligibilityRunActive, eligibility_run_create, eligibility_run_progress
from coupons.admin import EstimatedCountPaginator, InquiryNumberSearchMixin
from coupons.models import CouponMovement, StoreSale


def _incident_checkpoints():
    """The coupon page's balance checkpoints, from every incident's data (replaces the settings')."""
    checkpoints = []
    for incident in Incident.objects.order_by("pk"):
        named = "" if Incident.objects.count() == 1 else f"{incident.code}: "
        checkpoints += [
            (incident.group_1_2_cutoff_at, f"{named}1-2 判定時点"),
            (incident.group_1_1_cutoff_at, f"{named}1-1 判定時点"),
            (incident.final_balance_at, f"{named}最終残高の時点"),
        ]
    return checkpoints


class IncidentChoice(Exception):
    """Several incidents and none named: the page asks which one."""


def chosen_incident(request: HttpRequest) -> Incident:
    """The incident a staff page works on: the one named by ``?incident=<pk>`` (or the form's
    ``incident``), or the only one there is. Never "the first one" of several."""
    pk = request.POST.get("incident") or request.GET.get("incident")
    if pk:
        return get_object_or_404(Incident, pk=pk)
    incidents = list(Incident.objects.order_by("pk")[:2])
    if len(incidents) != 1:
        raise IncidentChoice
    return incidents[0]


def _choose_incident(request: HttpRequest, admin_site) -> HttpResponse:
    context = {
        **admin_site.each_context(request),
        "title": "障害を選んでください",
        "incidents": Incident.objects.order_by("pk"),
        "path": request.path,
        # What the page was asked for (a coupon's number on the intake page) survives the choice.
        "query": request.GET.copy(),
    }
    return TemplateResponse(request, "admin/claims/choose_incident.html", context)


coupons_admin.set_balance_checkpoints(_incident_checkpoints)


def _coupon_entitlements(request: HttpRequest, coupon) -> list[dict]:
    """The coupon page's answer to "is this traveller owed anything": each entitlement with its
    state, amount and extended validity, linked when the user may open it; the applications too."""
    from django.utils.timezone import localtime

    may_open = request.user.has_perm("claims.view_entitlement")
    rows = []
    for ent in (
        Entitlement.objects.filter(coupon_id=coupon.pk)
        .select_related("incident")
        .order_by("incident_id", "category")
    ):
        detail = f"{ent.get_status_display()}・{ent.amount_yen:,} 円（判定時点）"
        if ent.final_balance_yen is not None:
            detail += f"・最終残高 {ent.final_balance_yen:,} 円"
        if ent.valid_until:
            detail += f"・有効期限を {localtime(ent.valid_until):%Y/%m/%d %H:%M} まで延長"
        if ent.needs_review:
            detail += "・要確認"
        rows.append(
            {
                "label": f"{ent.get_category_display()}（{ent.get_route_display()}）",
                "detail": detail,
                "url": reverse("admin:claims_entitlement_change", args=[ent.pk]) if may_open else "",
            }
        )
    applications = coupon.applications.count()
    if applications:
        rows.append(
            {
                "label": f"特設サイトからの申請 {applications:,} 件",
                "detail": "",
                "url": (
                    reverse("admin:claims_application_changelist") + f"?q={coupon.pk}"
                    if request.user.has_perm("claims.view_application")
                    else ""
                ),
            }
        )
    return rows


coupons_admin.add_coupon_related(_coupon_entitlements)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    object_history_template = "admin/claims/incident/object_history.html"

    def history_view(self, request, object_id, extra_context=None):
        # The history is the audit trail's (pghistory triggers): who, when (Japan time), which
        # field from what to what — read-only, there is no "revert" page to post to.
        from django.contrib.admin.utils import unquote

        from staff.audit import audit_events, audit_rows

        incident = self.get_object(request, unquote(object_id))
        if incident is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, incident):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"{incident} の変更履歴",
            "subtitle": None,
            "opts": self.opts,
            "object": incident,
            "rows": audit_rows(audit_events(model="claims.Incident", object_id=str(incident.pk))),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.object_history_template, context)

    list_display = ["name", "outage_start", "outage_end", "extension_valid_until", "final_balance_at"]
    fieldsets = [
        (None, {"fields": ["code", "name"]}),
        ("対象（キャンペーンの都道府県）", {"fields": ["prefecture_codes"]}),
        ("障害の時間帯", {"fields": ["outage_start", "outage_end"]}),
        (
            "(1) 県外へ出て使えなかった方",
            {
                "fields": [
                    "group_1_1_expires_on",
                    "group_1_1_cutoff_at",
                    "group_1_2_expires_on",
                    "group_1_2_cutoff_at",
                    "group_1_2_request_deadline",
                ]
            },
        ),
        (
            "(2) 障害中の誤った引き落とし",
            {
                "fields": [
                    "duplicate_gap_seconds",
                    "till_match_seconds",
                    "reinstatement_approval_threshold_yen",
                ]
            },
        ),
        (
            "補償の手順",
            {
                "fields": [
                    "extension_valid_until",
                    "final_balance_at",
                    "application_opens_on",
                    "application_deadline",
                    "links_from",
                    "receipt_deadline",
                    "transfers_from",
                ]
            },
        ),
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj else []

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # A date and time is two inputs under one <label>: each gets its own accessible name
        # (screen readers, axe-core), 「障害開始（日付）」 and 「障害開始（時刻・日本時間）」.
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        widgets = getattr(getattr(field, "widget", None), "widgets", None)
        if widgets is None:
            widgets = getattr(getattr(getattr(field, "widget", None), "widget", None), "widgets", None)
        if widgets and len(widgets) == 2:
            name = str(db_field.verbose_name)
            widgets[0].attrs["aria-label"] = f"{name}（日付）"
            widgets[1].attrs["aria-label"] = f"{name}（時刻・日本時間）"
        return field


STATUS_LABELS = dict(Entitlement.Status.choices)
# What a person may choose when resolving a flag (the engine's own "cleared" is not one).
RESOLUTION_OUTCOMES = [
    (value, label)
    for value, label in ReviewResolution.Outcome.choices
    if value != ReviewResolution.Outcome.CLEARED
]


def _rules_changed_after_last_run(incident: Incident):
    """When the incident's rules were last edited, if that was after the last successful run
    (whose checkpoint records the rules it read); None when the last run read today's rules."""
    last = incident.runs.filter(status=EligibilityRun.Status.SUCCEEDED).exclude(checkpoint={}).first()
    if last is None or last.checkpoint.get("rules") == rules_digest(incident):
        return None
    from pghistory.models import Events  # the audit trail keeps every edit of the incident

    latest = Events.objects.tracks(incident).order_by("-pgh_created_at").first()
    return latest.pgh_created_at if latest else last.finished_at


def staff_name(user) -> str:
    """A staff member as text (family name first), not a link: the user's admin page is for those
    who manage accounts, and a link to it is a 403 for operations and the call desk."""
    if user is None:
        return "システム"
    full = f"{user.last_name} {user.first_name}".strip()
    return f"{full}（{user.username}）" if full else user.username


class StatusChangeInline(admin.TabularInline):
    model = EntitlementStatusChange
    extra = 0
    can_delete = False
    readonly_fields = ["at", "from_label", "to_label", "actor_name", "note"]
    fields = readonly_fields

    @admin.display(description="担当者")
    def actor_name(self, obj: EntitlementStatusChange) -> str:
        return staff_name(obj.actor)

    @admin.display(description="変更前")
    def from_label(self, obj: EntitlementStatusChange) -> str:
        return STATUS_LABELS.get(obj.from_status, "（新規）")

    @admin.display(description="変更後")
    def to_label(self, obj: EntitlementStatusChange) -> str:
        return STATUS_LABELS.get(obj.to_status, obj.to_status)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Entitlement)
class EntitlementAdmin(InquiryNumberSearchMixin, admin.ModelAdmin):
    list_display = [
        "coupon_number",
        "category",
        "route",
        "status",
        "amount",
        "final_balance",
        "review",
        "found_at",
    ]
    list_filter = ["category", "route", "status", "needs_review", "incident"]
    search_fields = ["=coupon__inquiry_number"]
    actions = ["resolve_reviews"]
    readonly_fields = [
        "incident",
        "coupon",
        "category",
        "route",
        "status",
        "cutoff_at",
        "amount_yen",
        "valid_until",
        "final_balance_yen",
        "needs_review",
        "review_note",
        "review_amount_yen",
        "review_final_yen",
        "found_at",
    ]
    exclude = ["evidence"]
    inlines = [StatusChangeInline]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    change_form_template = "admin/claims/entitlement/change_form.html"
    change_list_template = "admin/claims/entitlement/change_list.html"

    @admin.display(description="金額", ordering="amount_yen")
    def amount(self, obj: Entitlement) -> str:
        return f"{obj.amount_yen:,} 円"

    @admin.display(description="最終残高", ordering="final_balance_yen")
    def final_balance(self, obj: Entitlement) -> str:
        return "—" if obj.final_balance_yen is None else f"{obj.final_balance_yen:,} 円"

    @admin.display(description="要確認", ordering="needs_review")
    def review(self, obj: Entitlement) -> str:
        # Words, not Django's boolean icons: a red ✖ for "no review needed" read as an alarm.
        return mark_safe("<strong>要確認</strong>") if obj.needs_review else "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "<int:pk>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="claims_entitlement_reject",
            ),
            path(
                "resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="claims_entitlement_resolve",
            ),
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="claims_dashboard"),
            path(
                "entitlements.csv",
                self.admin_site.admin_view(self.export_view),
                name="claims_entitlements_csv",
            ),
            path(
                "instructions.csv",
                self.admin_site.admin_view(self.instructions_view),
                name="claims_instructions_csv",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entitlement = self.get_object(request, object_id)
        evidence = entitlement.evidence if entitlement else {}
        extra_context = {
            **(extra_context or {}),
            "evidence_movements": CouponMovement.objects.filter(
                movement_id__in=evidence.get("movement_ids", [])
            )
            .select_related("store")
            .order_by("occurred_at", "movement_id"),
            "evidence_sales": StoreSale.objects.filter(
                receipt_number__in=evidence.get("receipt_numbers", []),
                store_id__in=CouponMovement.objects.filter(
                    movement_id__in=evidence.get("movement_ids", [])
                ).values("store_id"),
            )
            .select_related("store")
            .order_by("occurred_at"),
            "duplicates": set(evidence.get("duplicate_movement_ids", [])),
            "can_resolve": entitlement is not None
            and entitlement.needs_review
            and self.has_change_permission(request, entitlement),
            "outcomes": RESOLUTION_OUTCOMES,
            "resolutions": entitlement.resolutions.select_related("actor") if entitlement else [],
            "can_reject": entitlement is not None
            and entitlement.status == Entitlement.Status.FOUND
            and self.has_change_permission(request, entitlement),
            # Every field is the engine's or a service's: the page only reads (and rejects).
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def reject_view(self, request: HttpRequest, pk: int):
        entitlement = get_object_or_404(Entitlement, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, entitlement):
            raise PermissionDenied
        try:
            entitlement_reject(entitlement_id=pk, actor=request.user, reason=request.POST.get("reason", ""))
        except TransitionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{entitlement} を対象外にしました。再判定でも変わりません。")
        return redirect(reverse("admin:claims_entitlement_change", args=[pk]))

    @admin.action(description="要確認を解決する（理由を入力）", permissions=["change"])
    def resolve_reviews(self, request: HttpRequest, queryset):
        ids = list(queryset.filter(needs_review=True).values_list("pk", flat=True))
        if not ids:
            messages.warning(request, "選んだ中に要確認の判定はありません。")
            return None
        return self._resolve_page(request, ids)

    def _resolve_page(self, request: HttpRequest, ids: list[int], errors: list[str] | None = None):
        context = {
            **self.admin_site.each_context(request),
            "title": "要確認の解決",
            "opts": self.model._meta,
            "entitlements": Entitlement.objects.filter(pk__in=ids).order_by("coupon", "category"),
            "outcomes": RESOLUTION_OUTCOMES,
            "errors": errors or [],
            "chosen": request.POST.get("outcome", ""),
            "reason": request.POST.get("reason", ""),
        }
        return TemplateResponse(request, "admin/claims/entitlement/resolve.html", context)

    def resolve_view(self, request: HttpRequest):
        """Resolve the flags of the posted entitlements (one, from its page, or many, from the
        list's action) with one outcome and reason; each is resolved or refused on its own."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        ids = [int(pk) for pk in request.POST.getlist("entitlement") if pk.isdigit()]
        outcome, reason = request.POST.get("outcome", ""), request.POST.get("reason", "")
        if not ids:
            messages.warning(request, "解決する判定を選んでください。")
            return redirect(reverse("admin:claims_entitlement_changelist"))
        errors = []
        if outcome not in dict(RESOLUTION_OUTCOMES):
            errors.append("解決の方法を選んでください。")
        if not reason.strip():
            errors.append("理由を入力してください（記録に残ります）。")
        if errors:
            return self._resolve_page(request, ids, errors)
        result = entitlement_reviews_resolve(
            entitlement_ids=ids, outcome=outcome, actor=request.user, reason=reason
        )
        if result.resolved:
            messages.success(
                request,
                f"要確認を {len(result.resolved):,} 件解決しました（{dict(RESOLUTION_OUTCOMES)[outcome]}）。",
            )
        for message in result.refused.values():
            messages.error(request, message)
        if len(ids) == 1:
            return redirect(reverse("admin:claims_entitlement_change", args=[ids[0]]))
        return redirect(reverse("admin:claims_entitlement_changelist") + "?needs_review__exact=1")

    def dashboard_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            incident = chosen_incident(request)
        except IncidentChoice:
            return _choose_incident(request, self.admin_site)
        rows = list(
            Entitlement.objects.filter(incident=incident)
            .values("category", "route", "status")
            .annotate(count=Count("id"), amount=Sum("amount_yen"), final=Sum("final_balance_yen"))
            .order_by("category", "route", "status")
        )
        labels = {
            "category": dict(Entitlement.Category.choices),
            "route": dict(Entitlement.Route.choices),
            "status": dict(Entitlement.Status.choices),
        }
        by_category = {}
        # What the page adds up is money the portal owes or may owe: an entitlement rejected,
        # withdrawn, used up or paid under another category of its coupon owes nothing.
        owed_statuses = {Entitlement.Status.EXTENDED, Entitlement.Status.PAYABLE}
        pending_statuses = {Entitlement.Status.FOUND}
        totals = {
            "payable": {"count": 0, "final": 0},
            "extended": {"count": 0, "amount": 0},
            "found": {"count": 0, "amount": 0},
            "none": {"count": 0},
        }
        for row in rows:
            for key in ("category", "route", "status"):
                row[f"{key}_label"] = labels[key][row[key]]
            status = row["status"]
            if status == Entitlement.Status.PAYABLE:
                totals["payable"]["count"] += row["count"]
                totals["payable"]["final"] += row["final"] or 0
            elif status == Entitlement.Status.EXTENDED:
                totals["extended"]["count"] += row["count"]
                totals["extended"]["amount"] += row["amount"] or 0
            elif status in pending_statuses:
                totals["found"]["count"] += row["count"]
                totals["found"]["amount"] += row["amount"] or 0
            else:
                totals["none"]["count"] += row["count"]
            if status not in owed_statuses | pending_statuses:
                continue
            total = by_category.setdefault(
                row["category"], {"label": row["category_label"], "count": 0, "amount": 0, "final": 0}
            )
            total["count"] += row["count"]
            total["amount"] += row["amount"] or 0
            total["final"] += row["final"] or 0
        widest = max((t["amount"] for t in by_category.values()), default=0) or 1
        chart = [
            {**total, "code": code, "width": round(100 * total["amount"] / widest, 1)}
            for code, total in by_category.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "補償の状況",
            "opts": self.model._meta,
            "incident": incident,
            "rows": rows,
            "chart": chart,
            "totals": totals,
            "review_count": Entitlement.objects.filter(incident=incident, needs_review=True).count(),
            "last_run": EligibilityRun.objects.filter(incident=incident).first(),
            "rules_changed_at": _rules_changed_after_last_run(incident),
            "applications": application_counts_by_day(incident=incident),
        }
        return TemplateResponse(request, "admin/claims/dashboard.html", context)

    def _csv(self, request, name: str, header, rows):
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def export_view(self, request: HttpRequest):
        """entitlements.csv for the incident; from the list's link, with the list's own filters and
        search applied (the same rows the list shows, every page of them)."""
        params = request.GET.copy()
        pk = params.pop("incident", [""])[-1] or params.get("incident__id__exact", "")
        if pk:
            incident = get_object_or_404(Incident, pk=pk)
        else:
            try:
                incident = chosen_incident(request)
            except IncidentChoice:
                return _choose_incident(request, self.admin_site)
        if not self.has_view_permission(request):
            raise PermissionDenied
        filtered = None
        if set(params) - {"o", "p"}:
            request.GET = params
            filtered = self.get_changelist_instance(request).get_queryset(request)
        return self._csv(
            request,
            "entitlements.csv",
            ENTITLEMENT_COLUMNS,
            entitlement_rows(incident=incident, queryset=filtered),
        )

    def instructions_view(self, request: HttpRequest):
        try:
            incident = chosen_incident(request)
        except IncidentChoice:
            return _choose_incident(request, self.admin_site)
        return self._csv(
            request, "instructions.csv", INSTRUCTION_COLUMNS, instruction_rows(incident=incident)
        )


@admin.register(Instruction)
class InstructionAdmin(admin.ModelAdmin):
    list_display = ["instruction_id", "action", "valid_until", "amount", "decided_at", "applied_at"]
    list_filter = ["action", ("applied_at", admin.EmptyFieldListFilter)]
    search_fields = ["=instruction_id", "=entitlement__coupon__inquiry_number"]
    show_full_result_count = False

    @admin.display(description="金額", ordering="amount_yen")
    def amount(self, obj: Instruction) -> str:
        return "—" if obj.amount_yen is None else f"{obj.amount_yen:,} 円"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EligibilityRun)
class EligibilityRunAdmin(admin.ModelAdmin):
    list_display = ["number", "created_at", "created_by", "status", "as_of", "finished_at"]
    list_select_related = ["created_by"]
    readonly_fields = [
        "incident",
        "created_at",
        "creator",
        "status",
        "as_of",
        "started_at",
        "finished_at",
        "error",
    ]
    # The summary is shown as a table; the checkpoint is internal; the creator as text (``creator``).
    exclude = ["summary", "checkpoint", "created_by"]

    @admin.display(description="番号", ordering="pk")
    def number(self, obj: EligibilityRun) -> str:
        return f"#{obj.pk}"

    @admin.display(description="実行者")
    def creator(self, obj: EligibilityRun) -> str:
        return staff_name(obj.created_by)

    change_form_template = "admin/claims/eligibilityrun/change_form.html"

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """ "Add" starts a run at once (there is nothing to fill in)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            incident = chosen_incident(request)
        except IncidentChoice:
            return _choose_incident(request, self.admin_site)
        if request.method == "POST":
            try:
                run = eligibility_run_create(incident=incident, created_by=request.user)
            except EligibilityRunActive as active:
                if active.run is None:  # finished between the refusal and the look-up: try again
                    return redirect(reverse("admin:claims_eligibilityrun_add"))
                messages.warning(
                    request, f"判定 #{active.run.pk} が待機中または実行中です。終わってから開始してください。"
                )
                return redirect(reverse("admin:claims_eligibilityrun_change", args=[active.run.pk]))
            messages.success(request, f"判定 #{run.pk} を開始しました。")
            return redirect(reverse("admin:claims_eligibilityrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "判定を実行",
            "opts": self.model._meta,
            "incident": incident,
        }
        return TemplateResponse(request, "admin/claims/eligibilityrun/start.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        in_progress = run is not None and run.status in {
            EligibilityRun.Status.QUEUED,
            EligibilityRun.Status.RUNNING,
        }
        extra_context = {
            **(extra_context or {}),
            "run": run,
            "in_progress": in_progress,
            "progress": eligibility_run_progress(run_id=run.pk) if in_progress else None,
            "category_labels": dict(Entitlement.Category.choices),
        }
        return super().change_view(request, object_id, form_url, extra_context)
