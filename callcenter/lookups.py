"""What the agent sees on a call, read in a few indexed queries (the intake page's 300 ms budget).

Read-only: finding a coupon from what the caller reads out, its ledger around the outage with a
running balance, the balances at the cut-offs, the engine's entitlements with their evidence side
by side (the movements and the till receipts), earlier cases and instructions; and the check of
the four answers against the platform's data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from localflavor.jp.jp_prefectures import JP_PREFECTURE_CODES

from callcenter.models import CallCase, CallDecision
from claims.models import Application, Entitlement, Incident, Instruction
from claims.services.applications import mask_contact, reference_number_display
from config import clock
from coupons.inquiry import is_valid, normalize_inquiry_number
from coupons.models import Coupon, CouponMovement, Store, StoreSale
from coupons.services.inquiry_search import Suggestions, suggest_inquiry_numbers  # noqa: F401
from coupons.stores import fold_store_name
from notifications.models import Message
from notifications.phones import mask

JST = ZoneInfo("Asia/Tokyo")
# How far around the outage the page's ledger reaches; the whole ledger is on the coupon's page.
AROUND_OUTAGE = dt.timedelta(days=1)
MAX_ROWS = 200  # movements of the outage shown at most (the rest: the coupon's own ledger page)
AROUND_ROWS = 20  # movements shown before and after the outage's


# --- finding the coupon --------------------------------------------------------------------------


def find_coupon(raw: str) -> Coupon | None:
    number = normalize_inquiry_number(raw)
    return Coupon.objects.filter(pk=number).first() if is_valid(number) else None


# --- stores --------------------------------------------------------------------------------------


def search_stores(query: str, *, limit: int = 20, prefer: list[str] | None = None) -> list[Store]:
    """Stores whose name contains ``query`` folded (width, kana, case, spaces): the trigram GIN
    index on ``coupons_store.search_name`` serves the LIKE; the stores in ``prefer`` (where the
    coupon was used) come first."""
    folded = fold_store_name(query)
    if not folded:
        return []
    stores = list(
        Store.objects.filter(search_name__contains=folded).order_by("store_name", "store_id")[:limit]
    )
    if prefer:
        preferred = set(prefer)
        stores.sort(key=lambda store: store.store_id not in preferred)
    return stores


# --- the coupon on one page ----------------------------------------------------------------------


@dataclass
class Overview:
    coupon: Coupon
    incident: Incident | None
    timeline: list[dict]
    earlier_count: int
    later_count: int
    balances: list[dict]
    entitlements: list[dict]
    cases: list[CallCase]
    instructions: list[Instruction]
    stores_used: list[Store]
    valid_until: dt.datetime | None
    applications: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)


def _cut_offs(incident: Incident) -> list[tuple[dt.datetime, str]]:
    return [
        (incident.outage_start, "障害開始時点"),
        (incident.group_1_2_cutoff_at, "1-2 判定時点（2/26 0:00）"),
        (incident.group_1_1_cutoff_at, "1-1 判定時点（2/27 0:00）"),
        (incident.final_balance_at, "最終残高の時点（4/1 0:00）"),
    ]


def stores_used(coupon: Coupon, incident: Incident | None) -> list[str]:
    """The stores the coupon paid at around the outage (what the caller's store is checked against)."""
    movements = CouponMovement.objects.filter(coupon_id=coupon.pk, store__isnull=False)
    if incident is not None:
        movements = movements.filter(
            occurred_at__gte=incident.outage_start - AROUND_OUTAGE,
            occurred_at__lt=incident.outage_end + AROUND_OUTAGE,
        )
    return sorted(set(movements.values_list("store_id", flat=True)))


def coupon_overview(coupon: Coupon, incident: Incident | None) -> Overview:
    movements_qs = CouponMovement.objects.filter(coupon_id=coupon.pk)
    window: tuple[dt.datetime, dt.datetime] | None = None
    if incident is not None:
        window = (incident.outage_start - AROUND_OUTAGE, incident.outage_end + AROUND_OUTAGE)
    cut_offs = _cut_offs(incident) if incident else []
    aggregates = {
        f"at_{i}": Sum("amount_yen", filter=Q(occurred_at__lt=at)) for i, (at, _) in enumerate(cut_offs)
    }
    aggregates["now"] = Sum("amount_yen", filter=Q(occurred_at__lt=clock.now()))
    if window:
        aggregates["before_window"] = Sum("amount_yen", filter=Q(occurred_at__lt=window[0]))
    counts: dict[str, object] = {}
    if window:
        counts = {
            "earlier": Count("pk", filter=Q(occurred_at__lt=window[0])),
            "later": Count("pk", filter=Q(occurred_at__gte=window[1])),
        }
    row = movements_qs.aggregate(**aggregates, **counts)
    shown = movements_qs.order_by("occurred_at", "movement_id").values_list(
        "movement_id", "kind", "amount_yen", "occurred_at", "store__store_name", "request_id"
    )
    if window:
        shown = shown.filter(occurred_at__gte=window[0], occurred_at__lt=window[1])
    running = int(row.get("before_window") or 0)
    kinds = dict(CouponMovement.Kind.choices)
    rows = []
    for movement_id, kind, amount, occurred_at, store_name, request_id in shown:
        running += amount
        in_outage = bool(incident and incident.outage_start <= occurred_at < incident.outage_end)
        # Formatted here, once: a template filter per cell made a 500-row page cost 0.5 s to render.
        rows.append(
            {
                "when": occurred_at.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S"),
                "kind": kinds.get(kind, kind),
                "amount": f"{amount:,} 円",
                "sign": "desk-minus" if amount < 0 else "desk-plus" if amount > 0 else "",
                "balance": f"{running:,} 円",
                "store": store_name or "",
                "request_id": request_id,
                "movement_id": movement_id,
                "in_outage": in_outage,
            }
        )
    # A long ledger: every movement of the outage (up to a limit) and the nearest ones around it.
    outage_rows = [i for i, r in enumerate(rows) if r["in_outage"]]
    if len(rows) > MAX_ROWS and outage_rows:
        first, last = outage_rows[0], outage_rows[-1]
        keep_from = max(0, first - AROUND_ROWS)
        keep_to = min(len(rows), min(last + 1, first + MAX_ROWS) + AROUND_ROWS)
        hidden_before, hidden_after = keep_from, len(rows) - keep_to
        rows = rows[keep_from:keep_to]
    elif len(rows) > MAX_ROWS:
        hidden_before, hidden_after = len(rows) - MAX_ROWS, 0
        rows = rows[-MAX_ROWS:]
    else:
        hidden_before = hidden_after = 0
    timeline = rows
    balances = []
    for i, (at, label) in enumerate(cut_offs):
        before_issue = at <= coupon.issued_at
        balances.append(
            {"label": label, "at": at, "balance_yen": int(row[f"at_{i}"] or 0), "before_issue": before_issue}
        )
    balances.append(
        {"label": "現在", "at": clock.now(), "balance_yen": int(row["now"] or 0), "before_issue": False}
    )

    entitlements = []
    valid_until = None
    if incident is not None:
        rows = list(
            Entitlement.objects.filter(incident=incident, coupon=coupon)
            .prefetch_related("status_changes__actor")
            .order_by("category")
        )
        evidence_ids = {mid for ent in rows for mid in (ent.evidence or {}).get("movement_ids", [])}
        evidence_receipts = {r for ent in rows for r in (ent.evidence or {}).get("receipt_numbers", [])}
        movements = {
            m.movement_id: m
            for m in CouponMovement.objects.filter(movement_id__in=evidence_ids).select_related("store")
        }
        receipts = list(
            StoreSale.objects.filter(
                receipt_number__in=evidence_receipts,
                store_id__in={m.store_id for m in movements.values() if m.store_id},
            ).select_related("store")
        )
        decisions = {
            d.entitlement_id: d
            for d in CallDecision.objects.filter(
                entitlement__in=rows, status__in=["waiting", "effective"]
            ).select_related("decided_by", "approved_by")
        }
        for ent in rows:
            evidence = ent.evidence or {}
            ids = evidence.get("movement_ids", [])
            duplicates = set(evidence.get("duplicate_movement_ids") or [])
            side = [movements[m] for m in ids if m in movements]
            side.sort(key=lambda m: (m.occurred_at, m.movement_id))
            previous = None
            lines = []
            for m in side:
                gap = int((m.occurred_at - previous).total_seconds()) if previous else None
                previous = m.occurred_at
                reinstatable = m.movement_id in duplicates if ent.category == "2-2" else ent.category == "2-1"
                lines.append({"movement": m, "gap_seconds": gap, "reinstatable": reinstatable})
            till = [r for r in receipts if r.receipt_number in set(evidence.get("receipt_numbers", []))]
            if ent.category == "2-2" and side and incident is not None:
                till = _till_near(side, incident)
            if ent.valid_until and (valid_until is None or ent.valid_until > valid_until):
                valid_until = ent.valid_until
            entitlements.append(
                {
                    "entitlement": ent,
                    "movements": lines,
                    "receipts": till,
                    "description": evidence.get("description", ""),
                    "decision": decisions.get(ent.pk),
                    "history": list(ent.status_changes.all()),
                }
            )
    cases = list(
        CallCase.objects.filter(coupon=coupon).select_related("agent").order_by("-opened_at", "-pk")[:20]
    )
    instructions = list(
        Instruction.objects.filter(entitlement__coupon=coupon)
        .select_related("entitlement")
        .order_by("decided_at")
    )
    used = list(Store.objects.filter(pk__in=stores_used(coupon, incident)).order_by("store_name"))
    applications, messages = _applications_and_messages(coupon)
    return Overview(
        coupon=coupon,
        incident=incident,
        timeline=timeline[::-1],  # newest first: the outage is what the agent looks for
        earlier_count=int(row.get("earlier") or 0) + hidden_before,
        later_count=int(row.get("later") or 0) + hidden_after,
        balances=balances,
        entitlements=entitlements,
        cases=cases,
        instructions=instructions,
        stores_used=used,
        valid_until=valid_until,
        applications=applications,
        messages=messages,
    )


def _applications_and_messages(coupon: Coupon) -> tuple[list[dict], list[dict]]:
    """The traveller's applications for the coupon on the special site (any state, newest first)
    and the outbox messages sent for them. Contacts are masked as the applications' admin masks
    them, recipients as the outbox's list does, and bodies are the outbox's ``body_shown`` (the
    verification code masked): the agent sees what was sent, not a secret to read out."""
    rows = list(
        Application.objects.filter(coupon_id=coupon.pk)
        .select_related("bank_account")
        .order_by("-created_at", "-pk")[:20]
    )
    applications = []
    references = [coupon.inquiry_number]
    for application in rows:
        reference = (
            reference_number_display(application.reference_number) if application.reference_number else ""
        )
        references.append(str(application.public_id))
        if reference:
            references.append(reference)
        bank = getattr(application, "bank_account", None)
        applications.append(
            {
                "application": application,
                "reference": reference or "（未確定）",
                "contact": mask_contact(phone=str(application.phone or ""), email=application.email),
                "bank": (
                    f"{bank.bank_name or bank.bank_code} {bank.branch_name or bank.branch_code} "
                    f"{bank.get_account_type_display()} {bank.masked_number}"
                    if bank is not None
                    else ""
                ),
            }
        )
    messages = [
        {
            "at": message.created_at,
            "channel": message.get_channel_display(),
            "to": mask(message.to),
            "template": message.template,
            "subject": message.subject,
            "body": message.body_shown,
            "status": message.get_status_display(),
            "sent_at": message.sent_at,
        }
        for message in Message.objects.filter(reference__in=references).order_by("-created_at", "-pk")[:50]
    ]
    return applications, messages


def _till_near(payments: list[CouponMovement], incident: Incident) -> list[StoreSale]:
    """The store's till around duplicate payments: one coupon sale where the ledger shows two."""
    window = dt.timedelta(seconds=incident.till_match_seconds)
    store_ids = {m.store_id for m in payments}
    amounts = {-m.amount_yen for m in payments}
    start = min(m.occurred_at for m in payments) - window
    end = max(m.occurred_at for m in payments) + window
    return list(
        StoreSale.objects.filter(
            store_id__in=store_ids, amount_yen__in=amounts, occurred_at__range=(start, end)
        )
        .select_related("store")
        .order_by("occurred_at")
    )


# --- the four answers ----------------------------------------------------------------------------


@dataclass
class AnswerCheck:
    label: str
    answered: str
    recorded: str
    ok: bool | None  # None: not asked yet


def check_answers(case: CallCase, overview: Overview | None) -> list[AnswerCheck]:
    """The four answers against the platform's data (DOMAIN.md 2-1/2-2 step 1); a mismatch is shown,
    not refused: the agent decides with the traveller on the line."""
    prefectures = dict(JP_PREFECTURE_CODES)
    checks = []
    coupon = overview.coupon if overview else None
    checks.append(
        AnswerCheck(
            "お問合せ番号",
            case.answered_inquiry_number or "（未聴取）",
            coupon.inquiry_number if coupon else "該当するクーポンなし",
            bool(coupon) if case.answered_inquiry_number else None,
        )
    )
    if coupon is None:
        return checks
    expiry_ok = None
    if case.answered_expires_on:
        extended = overview.valid_until.astimezone(JST).date() if overview and overview.valid_until else None
        expiry_ok = case.answered_expires_on in {coupon.expires_on, extended}
    recorded_expiry = f"{coupon.expires_on:%Y/%m/%d}"
    if overview and overview.valid_until:
        recorded_expiry += f"（延長後 {overview.valid_until.astimezone(JST):%Y/%m/%d}）"
    checks.append(
        AnswerCheck(
            "有効期限",
            f"{case.answered_expires_on:%Y/%m/%d}" if case.answered_expires_on else "（未聴取）",
            recorded_expiry,
            expiry_ok,
        )
    )
    checks.append(
        AnswerCheck(
            "旅行先の都道府県",
            str(prefectures.get(case.answered_prefecture_code, "（未聴取）")),
            str(prefectures.get(coupon.prefecture_code, coupon.prefecture_code)),
            (case.answered_prefecture_code == coupon.prefecture_code)
            if case.answered_prefecture_code
            else None,
        )
    )
    used = overview.stores_used if overview else []
    answered_store = (
        case.answered_store.store_name if case.answered_store else (case.answered_store_text or "（未聴取）")
    )
    store_ok = None
    if case.answered_store_id:
        store_ok = case.answered_store_id in {s.store_id for s in used}
    elif case.answered_store_text:
        folded = fold_store_name(case.answered_store_text)
        store_ok = any(folded in fold_store_name(s.store_name) for s in used) or False
    checks.append(
        AnswerCheck(
            "利用店舗",
            answered_store,
            "、".join(s.store_name for s in used) or "障害前後の利用なし",
            store_ok,
        )
    )
    return checks
