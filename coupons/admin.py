"""Staff admin for the platform mirror: read-only views of the ledger, and the import upload."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import F, Sum, Window
from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property

from config import clock
from coupons.forms import ImportUploadForm
from coupons.inquiry import normalize_inquiry_number
from coupons.models import Coupon, CouponMovement, ImportRun, Store, StoreSale
from coupons.services.balances import coupon_balances_at_many
from coupons.services.import_runs import import_run_create, import_run_progress
from coupons.services.inquiry_search import suggest_inquiry_numbers

# (instant, label) pairs shown as balances on the coupon page besides "now". The platform mirror
# knows no rule dates: the claims app, which owns the incident, provides them.
BalanceCheckpoints = Callable[[], list[tuple[dt.datetime, str]]]
_checkpoints: list[BalanceCheckpoints] = [list]


def set_balance_checkpoints(provider: BalanceCheckpoints) -> None:
    """Let a room above (claims, which owns the incident) say which balances the page shows."""
    _checkpoints[0] = provider


def balance_checkpoints() -> list[tuple[dt.datetime, str]]:
    return _checkpoints[0]()


# What rooms above know about a coupon (claims: its entitlements and extended validity; the call
# desk: a link to take a call about it), shown on the coupon's page without this room importing them.
# Each provider returns rows {"label", "detail", "url"} (url empty when the user may not follow it).
CouponRelated = Callable[[HttpRequest, Coupon], list[dict]]
_related: list[CouponRelated] = []


def add_coupon_related(provider: CouponRelated) -> None:
    if provider not in _related:
        _related.append(provider)


LEDGER_PAGE_SIZE = 100


class EstimatedCountPaginator(Paginator):
    """Counting tens of millions of ledger rows on every page view is slow: estimate unfiltered."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate and estimate > 100_000:
                return int(estimate)
        return super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    """Platform records are written only by the importer."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class InquiryNumberSearchMixin:
    """Search by inquiry number as people type it (full-width, hyphens, lower case)."""

    def get_search_results(self, request, queryset, search_term):
        term = normalize_inquiry_number(search_term or "")
        return super().get_search_results(request, queryset, term)

    @admin.display(description="お問合せ番号", ordering="coupon_id")
    def coupon_number(self, obj) -> str:
        # The key itself: listing "coupon" would fetch every row's coupon, one query each.
        return obj.coupon_id


@admin.register(Store)
class StoreAdmin(ReadOnlyAdmin):
    list_display = ["store_id", "store_name", "prefecture_code", "address"]
    search_fields = ["=store_id", "store_name"]


@admin.register(Coupon)
class CouponAdmin(InquiryNumberSearchMixin, ReadOnlyAdmin):
    list_display = ["inquiry_number", "face_value", "expires_on", "issuing_shop", "app_user"]
    list_filter = ["expires_on", "issuing_shop"]
    search_fields = ["=inquiry_number"]
    search_help_text = "お問合せ番号を入力（全角・ハイフン・小文字のままで構いません。例: CB-0000-000123）"
    change_form_template = "admin/coupons/coupon/change_form.html"
    change_list_template = "admin/coupons/coupon/change_list.html"

    def changelist_view(self, request, extra_context=None):
        """A number that names a coupon opens it; one that names none gets help (O read for 0,
        the beginning of a number) instead of an empty list."""
        raw = request.GET.get("q", "")
        extra = {}
        if raw.strip():
            number = normalize_inquiry_number(raw)
            if Coupon.objects.filter(pk=number).exists():
                return redirect(reverse("admin:coupons_coupon_change", args=[number]))
            extra["suggestions"] = suggest_inquiry_numbers(raw)
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    fields = [
        "inquiry_number",
        "face_value",
        "issued_at",
        "expires_on",
        "issuing_shop",
        "prefecture_code",
        "app_account_id",
        "app_phone_national",
        "app_email",
        "app_withdrawn_at",
    ]
    readonly_fields = ["face_value", "app_phone_national"]

    @admin.display(description="アプリ登録電話番号")
    def app_phone_national(self, obj: Coupon) -> str:
        # Shown as people read it (090-1234-5678), stored E.164.
        return obj.app_phone.as_national if obj.app_phone else "-"

    @admin.display(description="額面", ordering="face_value_yen")
    def face_value(self, obj: Coupon) -> str:
        return f"{obj.face_value_yen:,} 円"

    @admin.display(boolean=True, description="アプリ利用")
    def app_user(self, obj: Coupon) -> bool:
        return obj.uses_app

    def change_view(self, request, object_id, form_url="", extra_context=None):
        inquiry_number = normalize_inquiry_number(object_id)
        coupon = Coupon.objects.filter(pk=inquiry_number).first()
        # The ledger newest first, a page at a time, each row with the balance after it (a window
        # sum over the coupon's movements in time order, computed before the page is cut).
        movements = (
            CouponMovement.objects.filter(coupon_id=inquiry_number)
            .select_related("store")
            .annotate(
                balance_yen=Window(
                    Sum("amount_yen"), order_by=[F("occurred_at").asc(), F("movement_id").asc()]
                )
            )
            .order_by("-occurred_at", "-movement_id")
        )
        ledger = Paginator(movements, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
        timeline = [{"movement": movement, "balance_yen": movement.balance_yen} for movement in ledger]
        checkpoints = sorted([(clock.now(), "現在"), *balance_checkpoints()], key=lambda item: item[0])
        balances = coupon_balances_at_many(
            inquiry_number=inquiry_number, instants=[at for at, _ in checkpoints]
        )
        related = []
        if coupon is not None:
            for provider in _related:
                related += provider(request, coupon)
        extra_context = {
            **(extra_context or {}),
            "timeline": timeline,
            "ledger": ledger,
            "related": related,
            "balances": [
                {
                    "label": label,
                    "at": at,
                    "balance_yen": balances[at],
                    # A balance before the coupon was issued is not 0 円: there was no coupon.
                    "before_issue": coupon is not None and at < coupon.issued_at,
                }
                for at, label in checkpoints
            ],
        }
        return super().change_view(request, inquiry_number, form_url, extra_context)


@admin.register(CouponMovement)
class CouponMovementAdmin(InquiryNumberSearchMixin, ReadOnlyAdmin):
    list_display = [
        "movement_id",
        "coupon_number",
        "kind",
        "amount",
        "occurred_at",
        "store",
        "request_id",
    ]
    list_filter = ["kind"]
    search_fields = ["=coupon__inquiry_number", "=movement_id", "=request_id"]
    list_select_related = ["store"]
    ordering = ["-occurred_at"]

    @admin.display(description="金額", ordering="amount_yen")
    def amount(self, obj: CouponMovement) -> str:
        return f"{obj.amount_yen:,} 円"


@admin.register(StoreSale)
class StoreSaleAdmin(ReadOnlyAdmin):
    list_display = [
        "store",
        "receipt_number",
        "occurred_at",
        "amount",
        "tender",
        "inquiry_number",
    ]
    list_filter = ["tender"]
    search_fields = ["=store__store_id", "=receipt_number", "=inquiry_number"]
    list_select_related = ["store"]

    @admin.display(description="金額", ordering="amount_yen")
    def amount(self, obj: StoreSale) -> str:
        return f"{obj.amount_yen:,} 円"


class ImportStatusFilter(admin.SimpleListFilter):
    """The run's states in words for imports: a failed run may have imported its first files."""

    title = "状態"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            (ImportRun.Status.SUCCEEDED, "完了"),
            (ImportRun.Status.FAILED, "取り込めないファイルあり（一部のみ・取り込みなし）"),
            (ImportRun.Status.QUEUED, "待機中"),
            (ImportRun.Status.RUNNING, "実行中"),
            (ImportRun.Status.LOST, "中断（作業者の応答なし）"),
        ]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["number", "created_at", "created_by", "file_names", "outcome", "finished_at"]
    list_select_related = ["created_by"]
    list_filter = [ImportStatusFilter]
    readonly_fields = [
        "created_at",
        "creator",
        "file_names",
        "encoding_label",
        "outcome",
        "started_at",
        "finished_at",
    ]
    # The creator as text (creator); the status in words that say which files went in (outcome).
    exclude = ["files", "encoding", "results", "errors", "created_by", "status"]

    @admin.display(description="状態", ordering="status")
    def outcome(self, obj: ImportRun) -> str:
        """A run is done file by file: when a later file is refused, the files before it are in.
        So a failed run with results is a partial import, never 「失敗（変更なし）」."""
        if obj.status != ImportRun.Status.FAILED:
            return obj.get_status_display()
        imported = [result["file"] for result in obj.results or []]
        if not imported:
            return "失敗（取り込みなし）"
        rest = len(obj.files or []) - len(imported)
        return f"一部のみ取り込み（{len(imported)} ファイル取り込み済み、{rest} ファイルは取り込みなし）"

    @admin.display(description="番号", ordering="pk")
    def number(self, obj: ImportRun) -> str:
        return f"#{obj.pk}"

    @admin.display(description="取り込んだ人")
    def creator(self, obj: ImportRun) -> str:
        # Text, not a link to the account's page (a 403 for everyone who does not manage accounts).
        user = obj.created_by
        if user is None:
            return "-"
        full = f"{user.last_name} {user.first_name}".strip()
        return f"{full}（{user.username}）" if full else user.username

    @admin.display(description="文字コード")
    def encoding_label(self, obj: ImportRun) -> str:
        return {"utf-8": "UTF-8", "cp932": "Shift_JIS（cp932）"}.get(obj.encoding, obj.encoding)

    change_form_template = "admin/coupons/importrun/change_form.html"

    @admin.display(description="ファイル")
    def file_names(self, obj: ImportRun) -> str:
        return ", ".join(item["name"] for item in obj.files)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # runs are records: viewable, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            run = import_run_create(
                files=form.cleaned_data["files"],
                encoding=form.cleaned_data["encoding"],
                created_by=request.user,
            )
            messages.success(
                request, f"取り込み #{run.pk} を受け付けました。進み具合はこの画面に表示されます。"
            )
            return redirect(reverse("admin:coupons_importrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "region PAY ファイルの取り込み",
            "form": form,
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/coupons/importrun/upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "run": run,
            "progress": import_run_progress(run_id=run.pk) if run else None,
            "in_progress": run is not None
            and run.status in {ImportRun.Status.QUEUED, ImportRun.Status.RUNNING},
        }
        return super().change_view(request, object_id, form_url, extra_context)
