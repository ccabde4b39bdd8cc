"""The outbox: one row per message, written in the transaction of the decision that causes it.

A row is the message's whole life: what to send (rendered at enqueue, so a later template edit
never changes a message already promised), where it stands, how many times it was tried and what
the provider said. The relay (``notifications.services.message_send``) moves it along
``Message.TRANSITIONS``; every move is a ``MessageStatusChange`` row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class Message(models.Model):
    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "メール"

    class Status(models.TextChoices):
        PENDING = "pending", "送信待ち"
        SENDING = "sending", "送信中"
        SENT = "sent", "送信済み"
        FAILED = "failed", "送信失敗"

    # The only moves a message makes. SENDING -> SENDING is a claim taken over after the lease of a
    # worker that died mid-send ran out.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.SENDING}),
        Status.SENDING: frozenset({Status.SENT, Status.PENDING, Status.FAILED, Status.SENDING}),
        Status.FAILED: frozenset({Status.PENDING}),
        Status.SENT: frozenset(),
    }

    # Sent to providers as their idempotency key and used as the file backend's file name, so a
    # second send of the same row lands on the first instead of beside it.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    to = models.CharField("宛先", max_length=254)  # E.164 for SMS, an address for e-mail
    template = models.CharField(max_length=100)
    language = models.CharField(max_length=8, default="ja")
    subject = models.CharField("件名", max_length=200)
    body = models.TextField("本文")  # what is sent
    # The body with secret context values (a verification code: NOTIFY_SECRET_CONTEXT_KEYS) masked:
    # what staff see.
    body_shown = models.TextField("本文（表示用）", blank=True, default="")
    reference = models.CharField("案件の参照番号", max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField("送信試行回数", default=0)
    # Outbox timers run on the database's clock, not config.clock: they are machine timers, and a
    # business clock pinned for a demo (PORTAL_NOW) must not freeze delivery.
    next_attempt_at = models.DateTimeField(db_default=Now())
    lease_until = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "送信メッセージ"
        verbose_name_plural = "送信メッセージ（アウトボックス）"
        ordering = ["-created_at", "-id"]
        permissions = [("resend_message", "Can resend failed messages")]
        indexes = [
            # The sweep's question: what is due, or whose sender's lease ran out.
            models.Index(
                fields=["next_attempt_at"],
                name="notif_msg_pending_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_until"],
                name="notif_msg_sending_lease",
                condition=models.Q(status="sending"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "sending", "sent", "failed"]),
                name="notif_msg_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["sms", "email"]), name="notif_msg_channel_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sending") | models.Q(lease_until__isnull=False),
                name="notif_msg_sending_has_lease",
            ),
            models.CheckConstraint(
                condition=models.Q(status="sent", sent_at__isnull=False)
                | (~models.Q(status="sent") & models.Q(sent_at__isnull=True)),
                name="notif_msg_sent_iff_sent_at",
            ),
            models.CheckConstraint(
                condition=~models.Q(channel="sms") | models.Q(to__regex=r"^\+81[6789]0[0-9]{8}$"),
                name="notif_msg_sms_to_mobile",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.template} ({self.reference})"


class MessageStatusChange(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, blank=True, default="")
    to_status = models.CharField(max_length=10)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = "状態の変更"
        verbose_name_plural = "状態の変更"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status}"
