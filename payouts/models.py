"""payouts: money leaving the portal (see ../shared/DESIGN.md).

:class:`Payout` is what happens to one payable entitlement's final balance: gift points through a
receipt link, or a refund by bank transfer. Its status moves only through
``payouts.services.transitions`` (the table there; a trigger holds raw SQL to it too), each move
recorded as a :class:`PayoutStatusChange` with its actor. :class:`RequesterAccount` is the
portal's own bank account, which the header of every Zengin transfer file names (依頼人).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from encrypted_fields.fields import EncryptedTextField
from simple_history.models import HistoricalRecords

from claims.banking.banks import AccountType

if TYPE_CHECKING:
    from payouts.zengin import Requester

# The Zengin character set (claims.banking.kana), as a PostgreSQL regular expression.
ZENGIN_TEXT_RE = r"^[0-9A-Zｱ-ﾝﾞﾟ().\- ]*$"


class RequesterAccount(models.Model):
    """依頼人: the account the bank pays transfers from, as the Zengin file's header gives it.

    Data, not settings: one row per incident, seeded with demo values by a migration, corrected
    by operations in the admin with every change kept (who, when, from what to what).
    """

    class AccountTypes(models.TextChoices):
        ORDINARY = AccountType.ORDINARY.value, "普通"
        CURRENT = AccountType.CURRENT.value, "当座"
        SAVINGS = AccountType.SAVINGS.value, "貯蓄"

    incident = models.OneToOneField(
        "claims.Incident", on_delete=models.PROTECT, related_name="requester_account", verbose_name="障害"
    )
    requester_code = models.CharField(
        "依頼人コード", max_length=10, help_text="銀行から割り当てられた10桁までの番号（総合振込の契約時）"
    )
    requester_name = models.CharField(
        "依頼人名", max_length=40, help_text="全銀形式の半角カナ（40バイトまで）。振込先の通帳に表示されます"
    )
    bank_code = models.CharField("銀行コード", max_length=4)
    branch_code = models.CharField("支店コード", max_length=3)
    account_type = models.CharField("預金種目", max_length=10, choices=AccountTypes.choices)
    account_number = models.CharField("口座番号", max_length=7)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "振込依頼人（当方の口座）"
        verbose_name_plural = "振込依頼人（当方の口座）"
        constraints = [
            models.CheckConstraint(
                condition=Q(requester_code__regex=r"^[0-9]{1,10}$"), name="requesteraccount_code_digits"
            ),
            models.CheckConstraint(
                condition=Q(requester_name__regex=ZENGIN_TEXT_RE) & ~Q(requester_name=""),
                name="requesteraccount_name_zengin",
            ),
            models.CheckConstraint(
                condition=Q(bank_code__regex=r"^[0-9]{4}$"), name="requesteraccount_bank_code_digits"
            ),
            models.CheckConstraint(
                condition=Q(branch_code__regex=r"^[0-9]{3}$"), name="requesteraccount_branch_code_digits"
            ),
            models.CheckConstraint(
                condition=Q(account_type__in=[t.value for t in AccountType]),
                name="requesteraccount_account_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(account_number__regex=r"^[0-9]{7}$"), name="requesteraccount_number_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requester_name}（{self.bank_code}-{self.branch_code}）"

    def as_requester(self) -> Requester:
        """The header's values, with the bank's and branch's Zengin names from zengin-code."""
        from claims.banking.banks import get_bank, get_branch
        from payouts.zengin import Requester

        bank, branch = get_bank(self.bank_code), get_branch(self.bank_code, self.branch_code)
        return Requester(
            code=self.requester_code,
            name=self.requester_name,
            bank_code=self.bank_code,
            bank_name=bank.zengin_name if bank else "",
            branch_code=self.branch_code,
            branch_name=branch.zengin_name if branch else "",
            account_type=AccountType(self.account_type),
            account_number=self.account_number,
        )


POINTS_STATUSES = ["created", "link_sent", "chosen", "ordered", "delivered", "expired"]
BANK_STATUSES = ["awaiting_bank_details", "ready", "in_batch", "approved", "transferred", "returned"]


class Payout(models.Model):
    """One payable entitlement's money on its way out: created set-based once the clock passes the
    incident's final-balance instant (``run_payouts``), one per entitlement and one per coupon.
    The amount is the entitlement's final balance at creation and never changes afterwards."""

    class Method(models.TextChoices):
        POINTS = "points", "ギフトポイント"
        BANK = "bank", "銀行振込"

    class Status(models.TextChoices):
        # Gift points: created → link_sent → chosen → ordered → delivered, or expired at the deadline.
        CREATED = "created", "受取URLの送付待ち"
        LINK_SENT = "link_sent", "受取URL送付済み（選択待ち）"
        CHOSEN = "chosen", "ブランド選択済み（発注待ち）"
        ORDERED = "ordered", "発注済み"
        DELIVERED = "delivered", "ポイント送付済み"
        EXPIRED = "expired", "受取期限切れ"
        # Bank transfer: awaiting_bank_details → ready → in_batch → approved → transferred; a
        # returned transfer goes back to awaiting_bank_details until the account is corrected.
        AWAITING_BANK_DETAILS = "awaiting_bank_details", "口座情報の確認待ち"
        READY = "ready", "振込可能（バッチ待ち）"
        IN_BATCH = "in_batch", "振込バッチに登録済み"
        APPROVED = "approved", "振込承認済み"
        TRANSFERRED = "transferred", "振込済み"
        RETURNED = "returned", "組戻し（口座の訂正待ち）"

    class Brand(models.TextChoices):
        AMAZON = "amazon", "Amazon ギフトカード"
        PONTA = "ponta", "Ponta ポイント"
        PAYPAY = "paypay", "PayPay ポイント"
        EDY = "edy", "EdyギフトID"
        NANACO = "nanaco", "nanacoギフト"

    class ContactChannel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "メール"

    entitlement = models.OneToOneField(
        "claims.Entitlement", on_delete=models.PROTECT, related_name="payout", verbose_name="補償対象"
    )
    incident = models.ForeignKey(
        "claims.Incident", on_delete=models.PROTECT, related_name="payouts", verbose_name="障害"
    )
    # The coupon, denormalised for reports and for "a coupon is paid once" below.
    inquiry_number = models.CharField("お問合せ番号", max_length=32, db_collation="C")
    method = models.CharField("支払方法", max_length=8, choices=Method.choices)
    amount_yen = models.PositiveIntegerField("支払額（円）")
    status = models.CharField("状態", max_length=24, choices=Status.choices)
    application = models.ForeignKey(
        "claims.Application",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payouts",
        verbose_name="申請",
    )
    bank_account = models.ForeignKey(
        "claims.BankAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payouts",
        verbose_name="振込先口座",
    )
    # Where links and reminders go: the application's contact, else the app's registered one.
    # Plain, as the application and the coupon hold it (E.164 for SMS).
    contact_channel = models.CharField("連絡方法", max_length=8, choices=ContactChannel.choices, blank=True)
    contact = models.CharField("連絡先", max_length=254, blank=True)
    brand = models.CharField("選択したブランド", max_length=8, choices=Brand.choices, blank=True)
    created_at = models.DateTimeField("作成日時")
    updated_at = models.DateTimeField("更新日時")

    class Meta:
        verbose_name = "支払"
        verbose_name_plural = "支払"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["incident", "method", "status"], name="payout_method_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["incident", "inquiry_number"], name="payout_once_per_coupon"),
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="payout_amount_yen_gt_0"),
            models.CheckConstraint(
                condition=(Q(method="points") & Q(status__in=POINTS_STATUSES))
                | (Q(method="bank") & Q(status__in=BANK_STATUSES)),
                name="payout_status_by_method",
            ),
            # A brand is the traveller's choice of gift points: none before it, always after it.
            models.CheckConstraint(
                condition=(Q(brand="") & ~Q(status__in=["chosen", "ordered", "delivered"]))
                | (
                    Q(method="points")
                    & Q(brand__in=["amazon", "ponta", "paypay", "edy", "nanaco"])
                    & Q(status__in=["chosen", "ordered", "delivered", "expired"])
                ),
                name="payout_brand_by_status",
            ),
            # Money leaves by transfer only to an account on record.
            models.CheckConstraint(
                condition=~Q(status__in=["ready", "in_batch", "approved", "transferred"])
                | Q(bank_account__isnull=False),
                name="payout_transfer_has_account",
            ),
            models.CheckConstraint(
                condition=(Q(contact_channel="") & Q(contact=""))
                | (Q(contact_channel__in=["sms", "email"]) & ~Q(contact="")),
                name="payout_contact_with_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inquiry_number} {self.get_method_display()} ¥{self.amount_yen:,}"


class PayoutStatusChange(models.Model):
    payout = models.ForeignKey(
        Payout, on_delete=models.CASCADE, related_name="status_changes", verbose_name="支払"
    )
    from_status = models.CharField("変更前", max_length=24, blank=True)
    to_status = models.CharField("変更後", max_length=24)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="担当者"
    )
    note = models.TextField("メモ", blank=True)
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "支払の状態の変更"
        verbose_name_plural = "支払の状態の変更"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        labels = dict(Payout.Status.choices)
        return f"{labels.get(self.from_status, '（新規）')} → {labels.get(self.to_status, self.to_status)}"


class TransferBatch(models.Model):
    """A 総合振込 batch: the bank payouts one person gathered, approved by another (maker-checker).

    Its lines (:class:`TransferLine`) keep what the Zengin file needs as it was when the batch was
    made (bank and branch names, the account, the holder's name cut to 30 bytes), so every export
    of the batch gives the same bytes; the file's SHA-256 is recorded at the first export.
    Moves: ``payouts.services.batches`` (draft → approved → exported; draft → cancelled).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "承認待ち"
        APPROVED = "approved", "承認済み"
        EXPORTED = "exported", "振込データ作成済み"
        CANCELLED = "cancelled", "取消"

    incident = models.ForeignKey(
        "claims.Incident", on_delete=models.PROTECT, related_name="transfer_batches", verbose_name="障害"
    )
    status = models.CharField("状態", max_length=16, choices=Status.choices, default=Status.DRAFT)
    transfer_date = models.DateField("振込指定日", help_text="銀行の営業日")
    count = models.PositiveIntegerField("件数")
    total_yen = models.BigIntegerField("合計金額（円）")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="作成者"
    )
    created_at = models.DateTimeField("作成日時")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name="承認者",
    )
    approved_at = models.DateTimeField("承認日時", null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name="取消者",
    )
    cancelled_at = models.DateTimeField("取消日時", null=True, blank=True)
    # The header's 依頼人 as it was when the batch was made: what the approver saw is what is sent.
    requester = models.JSONField("振込依頼人（作成時）")
    # The lines' account numbers, in payout order, one per line of text, encrypted as one value
    # (Fernet, the bank accounts' key): an export decrypts once instead of once per transfer, which
    # cost 20 µs each — 2 s of a 100,000-transfer file whose read takes 1 s (docs/performance.md).
    account_numbers = EncryptedTextField("口座番号（暗号化、支払の順）", null=True, blank=True)
    file_sha256 = models.CharField("振込データのSHA-256", max_length=64, blank=True)
    file_size_bytes = models.PositiveIntegerField("振込データのバイト数", null=True, blank=True)
    exported_at = models.DateTimeField("初回出力日時", null=True, blank=True)

    class Meta:
        verbose_name = "振込バッチ"
        verbose_name_plural = "振込バッチ"
        ordering = ["-created_at", "-pk"]
        permissions = [("approve_transferbatch", "振込バッチを承認できる")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "approved", "exported", "cancelled"]),
                name="transferbatch_status_known",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=1) & Q(total_yen__gte=1), name="transferbatch_not_empty"
            ),
            # Maker-checker, in the database too: the creator never approves their own batch.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="transferbatch_approver_is_not_creator",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "exported"])
                | (Q(approved_by__isnull=False) & Q(approved_at__isnull=False)),
                name="transferbatch_approved_has_approver",
            ),
            models.CheckConstraint(
                condition=~Q(status="exported")
                | (Q(file_sha256__regex=r"^[0-9a-f]{64}$") & Q(exported_at__isnull=False)),
                name="transferbatch_exported_has_digest",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False),
                name="transferbatch_cancelled_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"振込バッチ #{self.pk}"


class TransferLine(models.Model):
    """One transfer of a batch: a payout and the account it goes to, frozen when the batch was made.

    A payout is in one batch at a time (``transferline_one_live_per_payout``): only a line that came
    back (組戻し) or whose batch was cancelled lets the payout go into a later batch. The account
    numbers are the batch's (``TransferBatch.account_numbers``), encrypted together.
    """

    class Outcome(models.TextChoices):
        LIVE = "", "有効"
        RETURNED = "returned", "組戻し"
        CANCELLED = "cancelled", "バッチ取消"

    batch = models.ForeignKey(
        TransferBatch, on_delete=models.PROTECT, related_name="lines", verbose_name="バッチ"
    )
    payout = models.ForeignKey(
        "payouts.Payout", on_delete=models.PROTECT, related_name="transfer_lines", verbose_name="支払"
    )
    bank_account = models.ForeignKey(
        "claims.BankAccount", on_delete=models.PROTECT, related_name="+", verbose_name="振込先口座"
    )
    bank_code = models.CharField("金融機関コード", max_length=4)
    bank_name = models.CharField("金融機関名（全銀カナ）", max_length=15, blank=True)
    branch_code = models.CharField("支店コード", max_length=3)
    branch_name = models.CharField("支店名（全銀カナ）", max_length=15, blank=True)
    account_type = models.CharField("預金種目", max_length=8)
    holder = models.CharField("受取人名（全銀カナ）", max_length=30)
    amount_yen = models.BigIntegerField("振込金額（円）")
    outcome = models.CharField("結果", max_length=16, choices=Outcome.choices, default="", blank=True)
    outcome_at = models.DateTimeField("結果の日時", null=True, blank=True)
    return_reason = models.TextField("組戻しの理由", blank=True)

    class Meta:
        verbose_name = "振込明細"
        verbose_name_plural = "振込明細"
        ordering = ["batch", "payout"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "payout"], name="transferline_once_per_batch"),
            models.UniqueConstraint(
                fields=["payout"], condition=Q(outcome=""), name="transferline_one_live_per_payout"
            ),
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="transferline_amount_yen_gt_0"),
            models.CheckConstraint(
                condition=Q(outcome__in=["", "returned", "cancelled"]), name="transferline_outcome_known"
            ),
            models.CheckConstraint(
                condition=Q(outcome="") | Q(outcome_at__isnull=False), name="transferline_outcome_has_time"
            ),
            models.CheckConstraint(
                condition=Q(bank_code__regex=r"^[0-9]{4}$") & Q(branch_code__regex=r"^[0-9]{3}$"),
                name="transferline_codes_digits",
            ),
            models.CheckConstraint(
                condition=Q(holder__regex=ZENGIN_TEXT_RE) & ~Q(holder=""), name="transferline_holder_zengin"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.payout_id}"


class ReconciliationReport(models.Model):
    """A reconciliation's result (the nightly beat job, or the command): counts and yen per outcome
    and the exceptions, by inquiry number (no names), kept so the office can show it later."""

    incident = models.ForeignKey(
        "claims.Incident", on_delete=models.PROTECT, related_name="reconciliations", verbose_name="障害"
    )
    at = models.DateTimeField("実行日時")
    adds_up = models.BooleanField("一致")
    coupons = models.PositiveIntegerField("対象クーポン数")
    final_yen = models.BigIntegerField("最終残高の合計（円）")
    outcomes = models.JSONField("結果ごとの件数と金額")
    exceptions = models.JSONField("例外（先頭1,000件）", default=list)
    exception_count = models.PositiveIntegerField("例外の件数", default=0)

    class Meta:
        verbose_name = "照合結果"
        verbose_name_plural = "照合結果"
        ordering = ["-at", "-pk"]
        get_latest_by = "at"

    def __str__(self) -> str:
        return f"照合 {self.at:%Y-%m-%d %H:%M} {'一致' if self.adds_up else '不一致'}"


class ReceiptLink(models.Model):
    """One receipt link (受取URL) of a points payout. Only the SHA-256 of its token is kept; the
    token itself exists in the message that carried it. A resend voids the link and makes a new
    one, so at most one link per payout is live; every link expires at the end of the incident's
    receipt deadline (Asia/Tokyo)."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="links", verbose_name="支払")
    token_hash = models.CharField("トークン（SHA-256）", max_length=64, unique=True, db_collation="C")
    expires_at = models.DateTimeField("有効期限")
    message = models.ForeignKey(
        "notifications.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="送信メッセージ",
    )
    created_at = models.DateTimeField("作成日時")
    opened_at = models.DateTimeField("初回表示日時", null=True, blank=True)
    voided_at = models.DateTimeField("無効化日時（再送）", null=True, blank=True)

    class Meta:
        verbose_name = "受取URL"
        verbose_name_plural = "受取URL"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["payout"], condition=Q(voided_at__isnull=True), name="receiptlink_one_live_per_payout"
            ),
            models.CheckConstraint(
                condition=Q(token_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106 - a pattern, not a password
                name="receiptlink_hash_hex",
            ),
        ]

    def __str__(self) -> str:
        return f"受取URL #{self.pk}（{self.payout.inquiry_number}）"


class GiftOrder(models.Model):
    """The order of a chosen brand at the gift vendor: one per payout (so one per choice), sent by
    a worker after the choice commits with the payout's id as the vendor's idempotent external id,
    and advanced by the vendor's signed webhooks."""

    class Status(models.TextChoices):
        QUEUED = "queued", "発注待ち"
        ACCEPTED = "accepted", "発注済み（ベンダー受付）"
        DELIVERED = "delivered", "送付済み"
        REDEEMED = "redeemed", "利用済み"
        FAILED = "failed", "発注失敗（要対応）"

    payout = models.OneToOneField(Payout, on_delete=models.PROTECT, related_name="order", verbose_name="支払")
    brand = models.CharField("ブランド", max_length=8, choices=Payout.Brand.choices)
    amount_yen = models.PositiveIntegerField("金額（円）")
    external_id = models.CharField("外部ID（冪等キー）", max_length=40, unique=True, db_collation="C")
    status = models.CharField("状態", max_length=10, choices=Status.choices, default=Status.QUEUED)
    vendor_order_id = models.CharField("ベンダーの注文番号", max_length=100, blank=True)
    attempts = models.PositiveIntegerField("発注試行回数", default=0)
    last_error = models.TextField("最後のエラー", blank=True)
    created_at = models.DateTimeField("作成日時")
    updated_at = models.DateTimeField("更新日時")
    accepted_at = models.DateTimeField("受付日時", null=True, blank=True)
    delivered_at = models.DateTimeField("送付日時", null=True, blank=True)
    redeemed_at = models.DateTimeField("利用日時", null=True, blank=True)
    # A machine timer on the database's clock (like the outbox's): when a worker last took the
    # order. Beat re-sends a queued order nobody has touched for a while (a task lost with a worker).
    touched_at = models.DateTimeField("最終処理日時", db_default=Now())

    class Meta:
        verbose_name = "ギフト発注"
        verbose_name_plural = "ギフト発注"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="giftorder_amount_yen_gt_0"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "accepted", "delivered", "redeemed", "failed"]),
                name="giftorder_status_known",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "failed"]) | ~Q(vendor_order_id=""),
                name="giftorder_accepted_has_vendor_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.get_brand_display()} ¥{self.amount_yen:,}"


class Reminder(models.Model):
    """One reminder sent on one rung of the ladder (issue #10 §4) to one subject — an application,
    a coupon or a payout: at most once per rung, by the database (``reminder_once_per_rung``)."""

    class Rung(models.TextChoices):
        CODE_NOT_ENTERED = "code_not_entered", "申請したが確認コード未入力"
        NOT_APPLIED = "not_applied", "申請期限の10日前に未申請（申請が必要な方）"
        LINK_NOT_OPENED = "link_not_opened", "受取URLを7日間開いていない"
        NOT_CHOSEN = "not_chosen", "受取期限の7日前にブランド未選択"
        BANK_DETAILS = "bank_details", "振込が戻され、口座の再登録がない（7日）"

    incident = models.ForeignKey(
        "claims.Incident", on_delete=models.PROTECT, related_name="reminders", verbose_name="障害"
    )
    rung = models.CharField("段階", max_length=24, choices=Rung.choices)
    subject = models.CharField(
        "対象", max_length=64, help_text="application:<id> / coupon:<番号> / payout:<id>"
    )
    message = models.ForeignKey(
        "notifications.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="送信メッセージ",
    )
    sent_at = models.DateTimeField("送信日時")

    class Meta:
        verbose_name = "リマインダー"
        verbose_name_plural = "リマインダー"
        ordering = ["-sent_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "rung", "subject"], name="reminder_once_per_rung"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rung_display()} {self.subject}"


class ReminderOptOut(models.Model):
    """A contact that asked for no more reminders (the link at the end of every reminder). Kept as
    a keyed hash of the normalised address, not the address itself."""

    contact_hash = models.CharField("連絡先（ハッシュ）", max_length=64, unique=True, db_collation="C")
    at = models.DateTimeField("日時")

    class Meta:
        verbose_name = "リマインダーの停止"
        verbose_name_plural = "リマインダーの停止"

    def __str__(self) -> str:
        return f"{self.contact_hash[:12]}…"
