"""The rules' room: the incident as data, the portal's decisions (entitlements) and their history.

Every date and number the rules use lives on :class:`Incident` (one row for the 2023-02-24 outage,
editable by operations, every change kept). The eligibility engine (``claims.services.eligibility``)
turns the platform mirror into :class:`Entitlement` rows: one per coupon and group, decided once.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from encrypted_fields.fields import EncryptedCharField
from localflavor.jp.jp_prefectures import JP_PREFECTURE_CODES
from phonenumber_field.modelfields import PhoneNumberField

from config.runs import Run


def chiba() -> list[str]:
    """The prefectures a new incident starts with: this portal's campaign (千葉とく旅キャンペーン)."""
    return ["12"]


class Incident(models.Model):
    code = models.SlugField("コード", max_length=40, unique=True)
    name = models.CharField("名称", max_length=200)
    outage_start = models.DateTimeField(
        "障害開始", help_text="告知は「夕刻」のみ。プラットフォームのログで確定するまでの仮の値（16:00）"
    )
    outage_end = models.DateTimeField("障害終了")
    # Scope: the campaign's coupons only (DOMAIN.md "Scope"); other prefectures' coupons in the
    # same export are never extended, flagged or paid by this incident.
    prefecture_codes = ArrayField(
        models.CharField(max_length=2, choices=JP_PREFECTURE_CODES),
        default=chiba,
        verbose_name="対象の都道府県",
        help_text="クーポンの利用都道府県コード（千葉は 12）。カンマ区切りで複数指定できます",
    )
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
    receipt_deadline = models.DateField(
        "受取期限",
        default=dt.date(2023, 5, 31),
        help_text="この日の終わり（日本時間）まで受取サイトでポイントを選べます。受取URLもこの日で失効します",
    )
    # Payouts (issue #10): the dates the notice gives, as data. Cut-offs are read in Asia/Tokyo.
    links_from = models.DateField(
        "受取URLの送付開始日",
        default=dt.date(2023, 4, 3),
        help_text="告知は「4月上旬」。この日（日本時間）から受取URLを送ります",
    )
    transfers_from = models.DateField(
        "返金振込の開始日",
        default=dt.date(2023, 5, 15),
        help_text="告知は「5月中旬」。この日（日本時間）以降の振込指定日で振込データを作ります",
    )
    # Every change is kept by the audit trail's triggers (staff.models.IncidentEvent, pghistory).

    class Meta:
        verbose_name = "障害（補償の基準）"
        verbose_name_plural = "障害（補償の基準）"
        constraints = [
            # Each with a sentence for the person editing the incident: the constraint's name is
            # for the database, never for the page.
            models.CheckConstraint(
                condition=Q(outage_end__gt=F("outage_start")),
                name="incident_outage_ordered",
                violation_error_message="障害の終了は、開始より後の日時にしてください。",
            ),
            models.CheckConstraint(
                condition=Q(final_balance_at__gt=F("extension_valid_until")),
                name="incident_final_balance_after_extension",
                violation_error_message="最終残高の時点は、延長後の有効期限より後の日時にしてください。",
            ),
            models.CheckConstraint(
                condition=Q(duplicate_gap_seconds__gt=0),
                name="incident_duplicate_gap_gt_0",
                violation_error_message="重複決済とみなす間隔（秒）は 1 以上にしてください。",
            ),
            models.CheckConstraint(
                condition=Q(till_match_seconds__gt=0),
                name="incident_till_match_gt_0",
                violation_error_message="店舗売上との照合幅（秒）は 1 以上にしてください。",
            ),
            models.CheckConstraint(
                condition=Q(prefecture_codes__len__gte=1),
                name="incident_prefecture_codes_not_empty",
                violation_error_message="対象の都道府県を 1 つ以上選んでください。",
            ),
            models.CheckConstraint(
                condition=Q(reinstatement_approval_threshold_yen__gte=0),
                name="incident_reinstatement_approval_threshold_yen_gte_0",
                violation_error_message="責任者の承認が必要な戻入額は 0 円以上にしてください。",
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
        REJECTED = "rejected", "対象外と判断"
        WITHDRAWN = "withdrawn", "候補の取り下げ（根拠なし）"
        # Payment states (paid, expired) belong to the payouts app: the entitlement says what is
        # owed, the payout what happened to it. The moves between these: claims.services.transitions.

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
    final_balance_yen = models.BigIntegerField(
        "最終支払額（円）",
        null=True,
        blank=True,
        help_text="最終残高の時点の残高＋その時点以降に反映された本障害の戻入＋その時点以降に決定した額",
    )
    evidence = models.JSONField("根拠", default=dict, blank=True, help_text="movement_ids, receipt_numbers")
    # 要確認 holds money: a flagged decision is not paid until a person resolves the flag
    # (claims.services.reviews). The engine's current reading is kept beside the recorded one.
    needs_review = models.BooleanField("要確認", default=False)
    review_note = models.TextField("要確認の理由", blank=True)
    review_amount_yen = models.BigIntegerField("再判定の金額（円）", null=True, blank=True)
    review_final_yen = models.BigIntegerField("再判定の最終支払額（円）", null=True, blank=True)
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
            # Fields that follow the status (the moves themselves: claims.services.transitions).
            models.CheckConstraint(
                condition=~Q(status__in=["extended", "payable", "used_up", "covered"])
                | Q(valid_until__isnull=False),
                name="entitlement_extended_has_valid_until",
            ),
            models.CheckConstraint(
                condition=(~Q(status="payable") | Q(final_balance_yen__gt=0))
                & (~Q(status="used_up") | Q(final_balance_yen=0))
                & (
                    ~Q(status__in=["found", "extended", "covered", "withdrawn"])
                    | Q(final_balance_yen__isnull=True)
                ),
                name="entitlement_final_amount_by_status",
            ),
            models.CheckConstraint(
                condition=Q(needs_review=False) | ~Q(review_note=""), name="entitlement_review_has_note"
            ),
            # A coupon is paid once, whichever of its groups carries the payment.
            models.UniqueConstraint(
                fields=["incident", "coupon"],
                condition=Q(status="payable"),
                name="entitlement_one_payable_per_coupon",
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
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # indexed where set (below): the engine's moves, most rows, have no actor
        verbose_name="担当者",
    )
    note = models.TextField("メモ", blank=True)
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "状態の変更"
        verbose_name_plural = "状態の変更"
        ordering = ["at", "id"]
        indexes = [
            # A person's moves (and the protection of a user who made some). The engine writes 1.6M
            # moves without an actor in its first run at 10M: none of them enters this index.
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="status_change_actor"),
        ]

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
        Entitlement,
        on_delete=models.PROTECT,
        related_name="instructions",
        db_index=False,  # led by instruction_once_per_decision (entitlement, action)
        verbose_name="補償対象",
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


class Reinstatement(models.Model):
    """One payment movement reinstated (戻入) by a decision of this portal.

    DOMAIN.md "A deduction is compensated once": reinstatement is decided per payment movement, and
    no movement is ever reinstated twice, whatever the category, channel or incident — the unique
    constraint on the movement is the last line of defence behind the call desk's check. A
    decision made before the incident's final instant is sent to the platform (``instruction``);
    one made at or after it sends nothing (the coupon is closed) and its amount is paid directly
    with the coupon's final amount.
    """

    class Channel(models.TextChoices):
        CALLCENTER = "callcenter", "コールセンター"
        APPLICATION = "application", "特設サイトの申請"
        OPERATIONS = "operations", "運営事務局"

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, related_name="reinstatements", verbose_name="補償対象"
    )
    # No database foreign key into the ledger: the first bulk load replaces the ledger's table,
    # which a foreign key pointing at it would forbid (coupons.services.importing.bulk).
    movement = models.ForeignKey(
        "coupons.CouponMovement",
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,  # led by reinstatement_once_per_movement
        related_name="+",
        verbose_name="戻入する決済の取引",
    )
    amount_yen = models.BigIntegerField("戻入額（円）")
    channel = models.CharField("経路", max_length=16, choices=Channel.choices)
    decided_at = models.DateTimeField("決定日時")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="担当者"
    )
    instruction = models.ForeignKey(
        Instruction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reinstatements",
        verbose_name="プラットフォームへの指示",
        help_text="最終残高の時点より後の決定は指示を送らず、最終支払額に加えます",
    )
    note = models.TextField("メモ", blank=True)

    class Meta:
        verbose_name = "戻入（決済ごと）"
        verbose_name_plural = "戻入（決済ごと）"
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["movement"], name="reinstatement_once_per_movement"),
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="reinstatement_amount_yen_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.movement_id} {self.amount_yen:,} 円"


class ReviewResolution(models.Model):
    """How a person resolved a 要確認 flag: who, why, and which reading was chosen. A later run
    flags the decision again only when the data changes beyond what was resolved."""

    class Outcome(models.TextChoices):
        ACCEPT = "accept", "新しい金額を採用"
        KEEP = "keep", "記録の金額のまま"
        REJECT = "reject", "対象外とする"
        CLEARED = "cleared", "原因の解消（自動）"

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, related_name="resolutions", verbose_name="補償対象"
    )
    outcome = models.CharField("解決", max_length=8, choices=Outcome.choices)
    review_note = models.TextField("要確認の理由")
    # What the engine read when the flag was resolved: a run flags again only when this changes.
    seen_amount_yen = models.BigIntegerField("判定の金額（円）", null=True, blank=True)
    seen_final_yen = models.BigIntegerField("判定の最終支払額（円）", null=True, blank=True)
    reason = models.TextField("理由")
    # None: the engine cleared a flag whose cause went away.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="担当者"
    )
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "要確認の解決"
        verbose_name_plural = "要確認の解決"
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="review_resolution_has_reason"),
            models.CheckConstraint(
                condition=Q(outcome="cleared") | Q(actor__isnull=False), name="review_resolution_by_a_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entitlement} {self.get_outcome_display()}"


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


class Application(models.Model):
    """A traveller's application on the special site (or through the API): the coupon, who they
    are, where the receipt link goes, how they want to be paid. It counts only once its contact is
    proven by the six-digit code (``submitted``); see ``claims.services.applications``."""

    class Status(models.TextChoices):
        AWAITING_VERIFICATION = "awaiting_verification", "確認コードの入力待ち"
        SUBMITTED = "submitted", "受付済み"
        VOID = "void", "無効（やり直しが必要）"

    class PayoutMethod(models.TextChoices):
        POINTS = "points", "キャッシュレスポイント"
        BANK = "bank", "銀行振込"

    # What the API calls application_id: opaque, so ids cannot be counted or guessed.
    public_id = models.UUIDField("申請ID", unique=True, editable=False)
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="applications", verbose_name="障害"
    )
    coupon = models.ForeignKey(
        "coupons.Coupon",
        on_delete=models.PROTECT,
        related_name="applications",
        db_column="inquiry_number",
        verbose_name="クーポン",
    )
    status = models.CharField(
        "状態", max_length=24, choices=Status.choices, default=Status.AWAITING_VERIFICATION
    )
    name = models.CharField("氏名", max_length=100)
    name_kana = models.CharField("氏名（カナ）", max_length=100)
    phone = PhoneNumberField("連絡先電話番号", blank=True)  # E.164 in the database
    email = models.EmailField("連絡先メール", blank=True)
    prefecture_code = models.CharField("利用都道府県", max_length=2, choices=JP_PREFECTURE_CODES)
    travel_date = models.DateField("旅行開始日")
    payout_method = models.CharField("受取方法", max_length=8, choices=PayoutMethod.choices)
    language = models.CharField("言語", max_length=8, default="ja")
    # The six-digit code: only its keyed hash is kept.
    code_hash = models.CharField("確認コード（ハッシュ）", max_length=128)
    code_attempts = models.PositiveSmallIntegerField("誤入力回数", default=0)
    code_sent_at = models.DateTimeField("確認コード送信日時")
    reference_number = models.CharField(
        "受付番号", max_length=16, unique=True, null=True, blank=True, db_collation="C"
    )
    # Double click, back button, retry after a timeout: the client's key finds the first request.
    idempotency_key = models.CharField(
        "冪等キー", max_length=255, unique=True, null=True, blank=True, db_collation="C"
    )
    request_fingerprint = models.CharField("リクエストの指紋", max_length=64, blank=True)
    # Text, not jsonb (which reorders keys): a replay must give back the very same bytes.
    response_body = models.TextField("最初の応答", blank=True)
    created_at = models.DateTimeField("申請日時")
    updated_at = models.DateTimeField("更新日時")
    submitted_at = models.DateTimeField("受付日時", null=True, blank=True)

    class Meta:
        verbose_name = "申請"
        verbose_name_plural = "申請"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["coupon", "status"], name="application_coupon_status"),
            models.Index(fields=["phone"], name="application_phone"),
            models.Index(fields=["status", "created_at"], name="application_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["coupon"],
                condition=Q(status="submitted"),
                name="application_one_submitted_per_coupon",
            ),
            models.CheckConstraint(
                condition=(Q(phone="") & ~Q(email="")) | (~Q(phone="") & Q(email="")),
                name="application_one_contact",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["awaiting_verification", "submitted", "void"]),
                name="application_status_known",
            ),
            models.CheckConstraint(
                condition=~Q(status="submitted")
                | (Q(reference_number__isnull=False) & Q(submitted_at__isnull=False)),
                name="application_submitted_has_reference",
            ),
            models.CheckConstraint(
                condition=Q(code_attempts__gte=0) & Q(code_attempts__lte=5),
                name="application_code_attempts_0_5",
            ),
            models.CheckConstraint(
                condition=Q(payout_method__in=["points", "bank"]), name="application_payout_method_known"
            ),
        ]

    def __str__(self) -> str:
        return self.reference_number or str(self.public_id)

    @property
    def contact(self) -> str:
        return str(self.phone) if self.phone else self.email


class ApplicationStatusChange(models.Model):
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="status_changes", verbose_name="申請"
    )
    from_status = models.CharField("変更前", max_length=24, blank=True)
    to_status = models.CharField("変更後", max_length=24)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="担当者"
    )
    note = models.TextField("メモ", blank=True)
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "申請の状態の変更"
        verbose_name_plural = "申請の状態の変更"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        labels = dict(Application.Status.choices)
        return f"{labels.get(self.from_status, '（新規）')} → {labels.get(self.to_status, self.to_status)}"


class BankAccount(models.Model):
    """Where a refund by bank transfer goes. Given on the site (with an application) or taken by
    the call desk; payouts reads it. The account number is encrypted at rest (Fernet) and shown
    masked to staff without the operations role."""

    class AccountType(models.TextChoices):
        ORDINARY = "ordinary", "普通"
        CURRENT = "current", "当座"
        SAVINGS = "savings", "貯蓄"

    application = models.OneToOneField(
        Application,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_account",
        verbose_name="申請",
    )
    coupon = models.ForeignKey(
        "coupons.Coupon",
        on_delete=models.PROTECT,
        related_name="bank_accounts",
        db_column="inquiry_number",
        verbose_name="クーポン",
    )
    bank_code = models.CharField("金融機関コード", max_length=4)
    bank_name = models.CharField("金融機関名", max_length=100, blank=True)
    branch_code = models.CharField("支店コード", max_length=3)
    branch_name = models.CharField("支店名", max_length=100, blank=True)
    account_type = models.CharField("預金種目", max_length=8, choices=AccountType.choices)
    account_number = EncryptedCharField("口座番号", max_length=7)
    # Zengin half-width kana as converted; the transfer file truncates it to its 30 bytes.
    holder_kana = models.CharField("口座名義（カナ）", max_length=80)
    created_at = models.DateTimeField("登録日時")

    class Meta:
        verbose_name = "振込先口座"
        verbose_name_plural = "振込先口座"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(bank_code__regex=r"^[0-9]{4}$"), name="bank_account_bank_code"
            ),
            models.CheckConstraint(
                condition=Q(branch_code__regex=r"^[0-9]{3}$"), name="bank_account_branch_code"
            ),
            models.CheckConstraint(
                condition=Q(account_type__in=["ordinary", "current", "savings"]),
                name="bank_account_type_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank_code}-{self.branch_code} {self.masked_number}"

    @property
    def masked_number(self) -> str:
        number = self.account_number or ""
        return "*" * max(len(number) - 3, 0) + number[-3:]
