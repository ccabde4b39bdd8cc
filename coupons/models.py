"""What the region PAY platform knows, mirrored: stores, coupons, the coupon ledger, till records.

Keys are the platform's own (store id, inquiry number, movement id): the portal never invents
identities for platform records, and re-importing a file can match records without a lookup.
Key columns use the "C" collation: they are ASCII identifiers, and byte comparison makes their
indexes several times cheaper to maintain than a locale's collation on tens of millions of rows.
Writes come only from the importer (``coupons.services.importing``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func, Q
from localflavor.jp.jp_prefectures import JP_PREFECTURE_CODES
from phonenumber_field.modelfields import PhoneNumberField

from config.runs import Run
from coupons.stores import SQL_FOLD

INQUIRY_NUMBER_PATTERN = r"^[A-Z0-9]{1,32}$"
PREFECTURE_PATTERN = r"^(0[1-9]|[1-3][0-9]|4[0-7])$"


class Store(models.Model):
    store_id = models.CharField("店舗ID", primary_key=True, max_length=64, db_collation="C")
    store_name = models.CharField("店舗名", max_length=200)
    prefecture_code = models.CharField("都道府県", max_length=2, choices=JP_PREFECTURE_CODES)
    address = models.TextField("住所", blank=True)
    # The name folded for search (coupons.stores): computed by PostgreSQL, so no writer forgets it.
    search_name = models.GeneratedField(
        expression=Func(F("store_name"), template=SQL_FOLD, output_field=models.TextField()),
        output_field=models.TextField(),
        db_persist=True,
        verbose_name="検索用店舗名",
    )

    class Meta:
        verbose_name = "利用店舗"
        verbose_name_plural = "利用店舗"
        ordering = ["store_id"]
        indexes = [
            # Part of a name, any width or kana: a trigram index, not a scan (callcenter's search).
            GinIndex(fields=["search_name"], opclasses=["gin_trgm_ops"], name="store_search_name_trgm"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(prefecture_code__regex=PREFECTURE_PATTERN),
                name="store_prefecture_code_jis",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_name}（{self.store_id}）"


class Coupon(models.Model):
    inquiry_number = models.CharField("お問合せ番号", primary_key=True, max_length=32, db_collation="C")
    face_value_yen = models.BigIntegerField("額面（円）")
    issued_at = models.DateTimeField("発行日時")
    expires_on = models.DateField("当初の有効期限", help_text="この日の23:59（日本時間）まで有効")
    issuing_shop = models.CharField("発行店", max_length=200)
    prefecture_code = models.CharField("利用都道府県", max_length=2, choices=JP_PREFECTURE_CODES)
    app_account_id = models.CharField("アプリアカウントID", max_length=64, blank=True)
    app_phone = PhoneNumberField("アプリ登録電話番号", blank=True)
    app_email = models.EmailField("アプリ登録メール", blank=True)
    app_withdrawn_at = models.DateTimeField("アプリ退会日時", null=True, blank=True)

    class Meta:
        verbose_name = "地域クーポン"
        verbose_name_plural = "地域クーポン"
        ordering = ["inquiry_number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(inquiry_number__regex=INQUIRY_NUMBER_PATTERN),
                name="coupon_inquiry_number_normalised",
            ),
            models.CheckConstraint(condition=Q(face_value_yen__gte=0), name="coupon_face_value_yen_gte_0"),
            models.CheckConstraint(
                condition=Q(prefecture_code__regex=PREFECTURE_PATTERN),
                name="coupon_prefecture_code_jis",
            ),
        ]

    def __str__(self) -> str:
        return self.inquiry_number

    @property
    def uses_app(self) -> bool:
        return bool(self.app_account_id)


class CouponMovement(models.Model):
    """One row of the platform's coupon ledger. Append-only: a trigger refuses UPDATE and DELETE."""

    class Kind(models.TextChoices):
        ISSUE = "issue", "発行"
        CHARGE = "charge", "チャージ"
        PAYMENT = "payment", "決済"
        CANCEL = "cancel", "取消"
        REINSTATEMENT = "reinstatement", "戻入"
        ADJUSTMENT = "adjustment", "調整"

    movement_id = models.CharField("取引ID", primary_key=True, max_length=64, db_collation="C")
    # The foreign key is checked by the importer (one anti-join per file, naming the line) rather
    # than by a per-row trigger: on tens of millions of rows that trigger would dominate the import.
    coupon = models.ForeignKey(
        Coupon,
        on_delete=models.PROTECT,
        related_name="movements",
        db_column="inquiry_number",
        db_constraint=False,
        db_index=False,
        verbose_name="クーポン",
    )
    kind = models.CharField("種別", max_length=16, choices=Kind.choices)
    amount_yen = models.BigIntegerField("金額（円）")
    occurred_at = models.DateTimeField("発生日時")
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_constraint=False,
        db_index=False,
        verbose_name="店舗",
    )
    # Database defaults: a file without these optional columns is copied straight into the table.
    request_id = models.CharField("決済リクエストID", max_length=64, blank=True, db_default="")
    app_account_id = models.CharField("アプリアカウントID", max_length=64, blank=True, db_default="")

    class Meta:
        verbose_name = "クーポン取引"
        verbose_name_plural = "クーポン取引（台帳）"
        ordering = ["occurred_at", "movement_id"]
        indexes = [
            # One coupon's movements (a handful) for its balance and timeline. Deliberately narrow:
            # every imported movement pays for this index, and a (coupon, occurred_at) INCLUDE
            # (amount_yen) index made a 10M-row load 35% slower for no gain on a handful of rows.
            # Set-based work (eligibility, final balances) scans the table and needs no index.
            models.Index(fields=["coupon"], name="movement_coupon"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["issue", "charge", "payment", "cancel", "reinstatement", "adjustment"]),
                name="movement_kind_known",
            ),
            models.CheckConstraint(
                condition=(
                    (Q(kind="issue") & Q(amount_yen__gt=0))
                    | (Q(kind="charge") & Q(amount_yen=0))
                    | (Q(kind="payment") & Q(amount_yen__lt=0))
                    | (Q(kind="cancel") & Q(amount_yen__gt=0))
                    | (Q(kind="reinstatement") & Q(amount_yen__gt=0))
                    | Q(kind="adjustment")
                ),
                name="movement_amount_yen_sign_by_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["payment", "cancel"]) | Q(store__isnull=False),
                name="movement_store_for_payment_and_cancel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.movement_id} {self.get_kind_display()} {self.amount_yen:+,}円"


class StoreSale(models.Model):
    """A sale as the store's own till recorded it (evidence for call-center cases 2-1 and 2-2)."""

    class Tender(models.TextChoices):
        CASH = "cash", "現金"
        CARD = "card", "カード"
        COUPON = "coupon", "地域クーポン"
        QR = "qr", "QR決済"
        OTHER = "other", "その他"

    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        related_name="sales",
        db_constraint=False,
        db_index=False,  # the unique (store, receipt_number) constraint serves store lookups
        verbose_name="店舗",
    )
    receipt_number = models.CharField("レシート番号", max_length=64, db_collation="C")
    occurred_at = models.DateTimeField("日時")
    amount_yen = models.BigIntegerField("金額（円）")
    tender = models.CharField("支払方法", max_length=8, choices=Tender.choices)
    inquiry_number = models.CharField("お問合せ番号", max_length=32, blank=True)

    class Meta:
        verbose_name = "店舗売上記録"
        verbose_name_plural = "店舗売上記録"
        ordering = ["store", "occurred_at"]
        # The 2-1 check asks: at this store, for this amount, around this time? (claims' engine)
        indexes = [
            models.Index(
                fields=["store", "amount_yen", "occurred_at"],
                include=["tender", "receipt_number"],
                name="store_sale_store_amount_time",
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["store", "receipt_number"], name="store_sale_receipt_unique"),
            models.CheckConstraint(condition=Q(amount_yen__gte=0), name="store_sale_amount_yen_gte_0"),
            models.CheckConstraint(
                condition=Q(tender__in=["cash", "card", "coupon", "qr", "other"]),
                name="store_sale_tender_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} #{self.receipt_number}"


class ImportRun(Run):
    """One import of platform files started from the staff admin and run by a Celery worker; its
    lifecycle (queued → running → succeeded / failed / lost, heartbeat, retries) is the shared one
    of ``config.runs``. A lost run is queued again as a new run that ``replaces`` it."""

    created_at = models.DateTimeField("登録日時")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, verbose_name="登録者"
    )
    encoding = models.CharField("文字コード", max_length=16, default="utf-8")
    files = models.JSONField("ファイル", default=list)  # [{name, path}] in upload order
    results = models.JSONField("結果", default=list)  # one summary per file
    errors = models.JSONField("エラー", default=list)  # [{file, line, column, message}]
    # One replacement per lost run, by the database (two ticks at once cannot queue it twice).
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
        verbose_name="再実行元",
    )

    class Meta:
        verbose_name = "取り込み"
        verbose_name_plural = "取り込み（region PAY ファイル）"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        names = ", ".join(item["name"] for item in self.files)
        return f"#{self.pk} {names}"


class LedgerChange(models.Model):
    """What a write to the platform's data added, for readers that follow it incrementally (the
    eligibility engine reads only the coupons changed since its last run).

    One row per coupon whose movements were added, per store whose till records were added (with
    their time span), or a single ``all`` row for a bulk load. ``xact`` is the writing transaction
    (``pg_current_xact_id()``): a reader that remembers the oldest transaction still running when
    it began (``pg_snapshot_xmin``) can never miss a change, whatever order transactions commit in.
    Written by ``coupons.services.ledger_changes`` in the same transaction as the data.
    """

    class Scope(models.TextChoices):
        COUPON = "coupon", "クーポン"
        STORE = "store", "店舗"
        ALL = "all", "すべて（一括取り込み）"

    xact = models.BigIntegerField("トランザクション")
    scope = models.CharField("範囲", max_length=8, choices=Scope.choices)
    key = models.CharField("お問合せ番号／店舗ID", max_length=64, blank=True, db_collation="C")
    first_at = models.DateTimeField("最初の日時", null=True, blank=True)
    last_at = models.DateTimeField("最後の日時", null=True, blank=True)

    class Meta:
        verbose_name = "台帳の変更"
        verbose_name_plural = "台帳の変更"
        indexes = [models.Index(fields=["xact"], name="ledger_change_xact")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
