"""The call desk: one case per call, its timeline, and the decisions taken on it.

A decision (:class:`CallDecision`) is taken once per entitlement: a partial unique constraint
holds at most one standing decision (waiting for approval, or in effect) per entitlement, and the
services lock the entitlement before they look, so a second agent is told who decided first.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from localflavor.jp.jp_prefectures import JP_PREFECTURE_CODES
from phonenumber_field.modelfields import PhoneNumberField

from claims.models import Entitlement


class CallCase(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "対応中"
        WAITING = "waiting", "責任者の承認待ち"
        CLOSED = "closed", "完了"

    class Outcome(models.TextChoices):
        NONE = "", "未決定"
        CONFIRMED = "confirmed", "延長・戻入"
        EXTENSION_REQUESTED = "extension_requested", "1-2 延長の申出を受付"
        REJECTED = "rejected", "対象外"
        OTHER = "other", "その他の補償"
        INFORMATION = "information", "案内のみ"

    incident = models.ForeignKey(
        "claims.Incident", on_delete=models.PROTECT, related_name="call_cases", verbose_name="障害"
    )
    coupon = models.ForeignKey(
        "coupons.Coupon",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="call_cases",
        db_column="inquiry_number",
        verbose_name="クーポン",
    )
    caller_name = models.CharField("お名前", max_length=100, blank=True)
    callback_number = PhoneNumberField("折り返し電話番号", blank=True)
    # The four answers, as the caller gave them (checked against the platform on the page).
    answered_inquiry_number = models.CharField("お問合せ番号（申告）", max_length=64, blank=True)
    answered_expires_on = models.DateField("有効期限（申告）", null=True, blank=True)
    answered_prefecture_code = models.CharField(
        "旅行先の都道府県（申告）", max_length=2, choices=JP_PREFECTURE_CODES, blank=True
    )
    answered_store = models.ForeignKey(
        "coupons.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="call_cases",
        verbose_name="利用店舗（申告）",
    )
    answered_store_text = models.CharField("利用店舗（聞き取ったまま）", max_length=200, blank=True)
    group = models.CharField("区分", max_length=8, choices=Entitlement.Category.choices, blank=True)
    notes = models.TextField("メモ", blank=True)
    status = models.CharField("状態", max_length=16, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField("結果", max_length=24, choices=Outcome.choices, blank=True, default="")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="call_cases", verbose_name="担当者"
    )
    opened_at = models.DateTimeField("受付日時")
    closed_at = models.DateTimeField("完了日時", null=True, blank=True)

    class Meta:
        verbose_name = "コールセンターの対応"
        verbose_name_plural = "コールセンターの対応"
        ordering = ["-opened_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "opened_at"], name="callcase_status_opened"),
            models.Index(fields=["coupon"], name="callcase_coupon"),
        ]
        permissions = [
            ("approve_calldecision", "コールセンターの決定を承認する（責任者）"),
            ("reopen_calldecision", "コールセンターの決定をやり直す（責任者）"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at=None)),
                name="callcase_closed_at_when_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"対応 #{self.pk}"


class CallDecision(models.Model):
    """What the desk decided on one entitlement, by whom, and who approved it."""

    class Kind(models.TextChoices):
        CONFIRM = "confirm", "2-x 確認（延長・戻入）"
        EXTENSION_REQUEST = "extension_request", "1-2 延長の申出"
        REJECT = "reject", "対象外"
        OTHER = "other", "その他の補償"

    class Status(models.TextChoices):
        WAITING = "waiting", "責任者の承認待ち"
        EFFECTIVE = "effective", "実行済み"
        WITHDRAWN = "withdrawn", "やり直し（取消）"

    case = models.ForeignKey(
        CallCase, on_delete=models.PROTECT, related_name="decisions", verbose_name="対応"
    )
    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, related_name="call_decisions", verbose_name="補償対象"
    )
    kind = models.CharField("決定", max_length=24, choices=Kind.choices)
    status = models.CharField("状態", max_length=16, choices=Status.choices)
    amount_yen = models.BigIntegerField("戻入・補償額（円）", default=0)
    movement_ids = models.JSONField("戻入する取引", default=list, blank=True)
    reason = models.TextField("理由・内容", blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="決定者"
    )
    decided_at = models.DateTimeField("決定日時")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="承認者",
    )
    approved_at = models.DateTimeField("承認日時", null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="やり直した人",
    )
    withdrawn_at = models.DateTimeField("やり直し日時", null=True, blank=True)
    withdrawn_reason = models.TextField("やり直しの理由", blank=True)

    class Meta:
        verbose_name = "コールセンターの決定"
        verbose_name_plural = "コールセンターの決定"
        ordering = ["-decided_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "decided_at"], name="calldecision_status_decided"),
            models.Index(fields=["decided_by", "decided_at"], name="calldecision_by_decided"),
        ]
        constraints = [
            # Decided once: at most one standing decision per entitlement, whoever asks.
            models.UniqueConstraint(
                fields=["entitlement"],
                condition=Q(status__in=["waiting", "effective"]),
                name="calldecision_once_per_entitlement",
            ),
            models.CheckConstraint(condition=Q(amount_yen__gte=0), name="calldecision_amount_yen_gte_0"),
            models.CheckConstraint(
                condition=Q(status="waiting", approved_at=None) | ~Q(status="waiting"),
                name="calldecision_waiting_not_approved",
            ),
            models.CheckConstraint(
                condition=Q(status="withdrawn", withdrawn_at__isnull=False) | ~Q(status="withdrawn"),
                name="calldecision_withdrawn_at_when_withdrawn",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class CallCaseEvent(models.Model):
    """The case's timeline: every change, with who made it (status changes, answers, decisions)."""

    class Kind(models.TextChoices):
        OPENED = "opened", "受付"
        ANSWERS = "answers", "聞き取り内容の変更"
        NOTE = "note", "メモ"
        DECIDED = "decided", "決定"
        APPROVED = "approved", "承認"
        REOPENED = "reopened", "やり直し"
        BANK_DETAILS = "bank_details", "口座情報の受付"
        CLOSED = "closed", "完了"

    case = models.ForeignKey(CallCase, on_delete=models.CASCADE, related_name="events", verbose_name="対応")
    kind = models.CharField("種類", max_length=16, choices=Kind.choices)
    from_status = models.CharField("変更前", max_length=16, blank=True)
    to_status = models.CharField("変更後", max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="担当者"
    )
    note = models.TextField("内容", blank=True)
    decision = models.ForeignKey(
        CallDecision, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="決定"
    )
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "対応の経過"
        verbose_name_plural = "対応の経過"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"

    @property
    def from_label(self) -> str:
        return CallCase.Status(self.from_status).label if self.from_status else "（新規）"

    @property
    def to_label(self) -> str:
        return CallCase.Status(self.to_status).label if self.to_status else ""
