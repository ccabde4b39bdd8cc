"""The rules' room: the incident as data, the portal's decisions (entitlements) and their history.

Every date and number the rules use lives on :class:`Incident` (one row for the 2023-02-24 outage,
editable by operations, every change kept). The eligibility engine (``claims.services.eligibility``)
turns the platform mirror into :class:`Entitlement` rows: one per coupon and group, decided once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from config.runs import Run


class Incident(models.Model):
    code = models.SlugField("コード", max_length=40, unique=True)
    name = models.CharField("名称", max_length=200)
    outage_start = models.DateTimeField(
        "障害開始", help_text="告知は「夕刻」のみ。プラットフォームのログで確定するまでの仮の値（16:00）"
    )
    outage_end = models.DateTimeField("障害終了")
    # (1)① and (1)②: who left the prefecture with a balance
    group_1_1_expires_on = models.DateField("1-1 の当初有効期限")
    group_1_1_cutoff_at = models.DateTimeField("1-1 の判定時点", help_text="この時刻より前の取引で残高を計算")
    group_1_2_expires_on = models.DateField("1-2 の当初有効期限")
    group_1_2_cutoff_at = models.DateTimeField("1-2 の判定時点")
    group_1_2_request_deadline = models.DateField("1-2 の申出期限（コールセンター）")
    # (2): wrong deductions during the outage
    duplicate_gap_seconds = models.PositiveIntegerField(
        "重複決済とみなす間隔（秒）", help_text="同じ店舗・同じ金額の決済がこの秒数以内に続いたら重複の候補"
    )
    till_match_seconds = models.PositiveIntegerField(
        "店舗売上との照合幅（秒）", help_text="現金等の売上がこの秒数以内にあればクーポン二重払いの候補"
    )
    # What everyone gets
    # The call desk: a reinstatement above this amount waits for a supervisor's approval.
    reinstatement_approval_threshold_yen = models.BigIntegerField(
        "責任者の承認が必要な戻入額（円）",
        default=10_000,
        help_text="コールセンターの戻入・その他の補償がこの額を超えると、責任者の承認後に実行されます",
    )
    extension_valid_until = models.DateTimeField("延長後の有効期限")
    final_balance_at = models.DateTimeField(
        "最終残高の時点", help_text="この時刻より前の取引で、ポイント・振込で支払う残高を計算"
    )
    application_opens_on = models.DateField("特設サイト開設日")
    application_deadline = models.DateField("申請期限")
    receipt_deadline = models.DateField("受取期限")
    history = HistoricalRecords()

    class Meta:
        verbose_name = "障害（補償の基準）"
        verbose_name_plural = "障害（補償の基準）"
        constraints = [
            models.CheckConstraint(
                condition=Q(outage_end__gt=F("outage_start")), name="incident_outage_ordered"
            ),
            models.CheckConstraint(
                condition=Q(final_balance_at__gt=F("extension_valid_until")),
                name="incident_final_balance_after_extension",
            ),
            models.CheckConstraint(
                condition=Q(duplicate_gap_seconds__gt=0), name="incident_duplicate_gap_gt_0"
            ),
            models.CheckConstraint(condition=Q(till_match_seconds__gt=0), name="incident_till_match_gt_0"),
            models.CheckConstraint(
                condition=Q(reinstatement_approval_threshold_yen__gte=0),
                name="incident_reinstatement_approval_threshold_yen_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Entitlement(models.Model):
    """The portal's decision that one coupon is in one group, with its amount and evidence."""

    class Category(models.TextChoices):
        LEFT_1_1 = "1-1", "1-1 期限2/24・県外へ"
        LEFT_1_2 = "1-2", "1-2 期限2/25・県外へ（宿泊）"
        CASH_2_1 = "2-1", "2-1 現金等で支払い＋クーポンも引落し"
        DUPLICATE_2_2 = "2-2", "2-2 重複決済"
        OTHER = "other", "その他"

    class Route(models.TextChoices):
        APP = "app", "アプリ登録先へ自動送付"
        APPLICATION = "application", "特設サイトで申請"
        CALLCENTER = "callcenter", "コールセンター"

    class Status(models.TextChoices):
        FOUND = "found", "該当（確認待ち）"
        EXTENDED = "extended", "延長済み（最終残高待ち）"
        PAYABLE = "payable", "支払対象"
        USED_UP = "used_up", "使い切り（支払なし）"
        COVERED = "covered", "同じクーポンの他の区分で支払"
        PAID = "paid", "支払済み"
        EXPIRED = "expired", "受取期限切れ"
        REJECTED = "rejected", "対象外と判断"

    incident = models.ForeignKey(
        Incident,
        on_delete=models.PROTECT,
        related_name="entitlements",
        db_index=False,  # led by entitlement_once_per_group and entitlement_group_status
        verbose_name="障害",
    )
    coupon = models.ForeignKey(
        "coupons.Coupon",
        on_delete=models.PROTECT,
        related_name="entitlements",
        db_column="inquiry_number",
        verbose_name="クーポン",
    )
    category = models.CharField("区分", max_length=8, choices=Category.choices)
    route = models.CharField("経路", max_length=16, choices=Route.choices)
    status = models.CharField("状態", max_length=16, choices=Status.choices, default=Status.FOUND)
    cutoff_at = models.DateTimeField("判定時点", null=True, blank=True)
    amount_yen = models.BigIntegerField(
        "金額（円）", help_text="1-x: 判定時点の残高 / 2-x: 誤って引き落とされた疑いの額"
    )
    valid_until = models.DateTimeField("延長後の有効期限", null=True, blank=True)
    final_balance_yen = models.BigIntegerField("最終残高（円）", null=True, blank=True)
    evidence = models.JSONField("根拠", default=dict, blank=True, help_text="movement_ids, receipt_numbers")
    needs_review = models.BooleanField("要確認", default=False)
    review_note = models.TextField("要確認の理由", blank=True)
    found_at = models.DateTimeField("判定日時")

    class Meta:
        verbose_name = "補償対象（判定）"
        verbose_name_plural = "補償対象（判定）"
        ordering = ["coupon", "category"]
        indexes = [models.Index(fields=["incident", "category", "status"], name="entitlement_group_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "coupon", "category"], name="entitlement_once_per_group"
            ),
            models.CheckConstraint(condition=Q(amount_yen__gte=0), name="entitlement_amount_yen_gte_0"),
            models.CheckConstraint(
                condition=Q(final_balance_yen__isnull=True) | Q(final_balance_yen__gte=0),
                name="entitlement_final_balance_yen_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id} {self.category}"


class EntitlementStatusChange(models.Model):
    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.CASCADE, related_name="status_changes", verbose_name="補償対象"
    )
    from_status = models.CharField("変更前", max_length=16, blank=True)
    to_status = models.CharField("変更後", max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="担当者"
    )
    note = models.TextField("メモ", blank=True)
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "状態の変更"
        verbose_name_plural = "状態の変更"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        labels = dict(Entitlement.Status.choices)
        return f"{labels.get(self.from_status, '（新規）')} → {labels.get(self.to_status, self.to_status)}"


class Instruction(models.Model):
    """A decision the platform must apply (extend a coupon, reinstate an amount), with a stable id."""

    class Action(models.TextChoices):
        EXTEND_VALIDITY = "extend_validity", "有効期限の延長"
        REINSTATE = "reinstate", "戻入"

    instruction_id = models.CharField("指示ID", max_length=80, primary_key=True, db_collation="C")
    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, related_name="instructions", verbose_name="補償対象"
    )
    action = models.CharField("指示", max_length=16, choices=Action.choices)
    valid_until = models.DateTimeField("延長後の有効期限", null=True, blank=True)
    amount_yen = models.BigIntegerField("戻入額（円）", null=True, blank=True)
    decided_at = models.DateTimeField("決定日時")
    applied_at = models.DateTimeField(
        "反映日時", null=True, blank=True, help_text="プラットフォームの戻入の取引"
    )
    applied_movement_id = models.CharField("反映した取引ID", max_length=64, blank=True)

    class Meta:
        verbose_name = "プラットフォームへの指示"
        verbose_name_plural = "プラットフォームへの指示"
        ordering = ["decided_at", "instruction_id"]
        constraints = [
            models.UniqueConstraint(fields=["entitlement", "action"], name="instruction_once_per_decision"),
            models.CheckConstraint(
                condition=(Q(action="extend_validity") & Q(valid_until__isnull=False))
                | (Q(action="reinstate") & Q(amount_yen__gt=0)),
                name="instruction_fields_by_action",
            ),
        ]

    def __str__(self) -> str:
        return self.instruction_id


class EligibilityRun(Run):
    """One run of the engine for an incident; its lifecycle (queued → running → succeeded / failed
    / lost, heartbeat, retries) is the shared one of ``config.runs``."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="runs", verbose_name="障害")
    created_at = models.DateTimeField("登録日時")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="登録者"
    )
    as_of = models.DateTimeField("基準時刻", null=True, blank=True, help_text="ポータルの時計で見た実行時刻")
    summary = models.JSONField("結果", default=dict, blank=True)
    # Where the next run may start from (claims.services.eligibility.Checkpoint).
    checkpoint = models.JSONField("到達点", default=dict, blank=True)

    class Meta:
        verbose_name = "判定の実行"
        verbose_name_plural = "判定の実行"
        ordering = ["-created_at", "-pk"]  # a pinned clock gives runs the same created_at
        constraints = [
            # Beat, the admin and the command may all ask at once: one run on its way per incident.
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(status__in=["queued", "running"]),
                name="eligibility_run_one_active_per_incident",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_status_display()}"
