"""Receipt links (受取URL): one per points payout, through the outbox, from the incident's
dispatch date until its receipt deadline (issue #10, 2; public-api.md §6).

The token carries 256 random bits (``secrets.token_urlsafe(32)``) and is stored only as its
SHA-256; the message that carries it is written in the same transaction as the link and the
payout's move to ``link_sent`` (the outbox sends it after commit, once: notifications.services).
A resend voids the live link and sends a new one. Every link expires at the end of the receipt
deadline, Asia/Tokyo.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from claims.models import Incident
from config import clock
from notifications.services import Outgoing, message_enqueue, messages_enqueue
from payouts.models import Payout, PayoutStatusChange, ReceiptLink

JST = ZoneInfo("Asia/Tokyo")
CHUNK = 500


class LinkError(Exception):
    """A link cannot be (re)sent; the message is a Japanese sentence for staff."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def jst_start(day: dt.date) -> dt.datetime:
    """00:00 Asia/Tokyo of ``day``, as an aware instant."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=JST)


def receipt_deadline_end(incident: Incident) -> dt.datetime:
    """The instant the receipt deadline ends: 00:00 JST of the day after it (exclusive)."""
    return jst_start(incident.receipt_deadline + dt.timedelta(days=1))


def links_due(incident: Incident, now: dt.datetime) -> bool:
    return jst_start(incident.links_from) <= now < receipt_deadline_end(incident)


def receipt_url(token: str) -> str:
    return settings.PUBLIC_SITE_URL.rstrip("/") + f"/r/{token}"


def _reference(payout: Payout) -> str:
    # The outbox's reference: the application's reference number when there is one, else the coupon.
    if payout.application_id and payout.application and payout.application.reference_number:
        return payout.application.reference_number
    return payout.inquiry_number


def _language(payout: Payout) -> str:
    return payout.application.language if payout.application_id and payout.application else "ja"


def _outgoing(payout: Payout, *, incident: Incident, token: str) -> Outgoing:
    deadline = incident.receipt_deadline
    return Outgoing(
        channel=payout.contact_channel,
        to=payout.contact,
        template="receipt_link",
        context={
            "receipt_url": receipt_url(token),
            "amount": f"{payout.amount_yen:,}",
            "deadline_ja": f"{deadline.year}年{deadline.month}月{deadline.day}日",
            "deadline_en": deadline.strftime("%d %B %Y"),
        },
        reference=_reference(payout),
        language=_language(payout),
    )


def _send_link(payout: Payout, *, incident: Incident, now: dt.datetime) -> ReceiptLink:
    """Write a new live link and its message (caller's transaction, payout row locked)."""
    token = secrets.token_urlsafe(32)
    item = _outgoing(payout, incident=incident, token=token)
    message = message_enqueue(
        channel=item.channel,
        to=item.to,
        template=item.template,
        context=item.context,
        reference=item.reference,
        language=item.language,
    )
    return ReceiptLink.objects.create(
        payout=payout,
        token_hash=token_hash(token),
        expires_at=receipt_deadline_end(incident),
        message=message,
        created_at=now,
    )


def _send_links(payouts: list[Payout], *, incident: Incident, now: dt.datetime) -> None:
    """:func:`_send_link` for a chunk: the messages and links written by a few INSERTs."""
    tokens = [secrets.token_urlsafe(32) for _ in payouts]
    messages = messages_enqueue(
        [
            _outgoing(payout, incident=incident, token=token)
            for payout, token in zip(payouts, tokens, strict=True)
        ]
    )
    expires = receipt_deadline_end(incident)
    ReceiptLink.objects.bulk_create(
        ReceiptLink(
            payout=payout, token_hash=token_hash(token), expires_at=expires, message=message, created_at=now
        )
        for payout, token, message in zip(payouts, tokens, messages, strict=True)
    )


@dataclass
class LinksQueued:
    due: bool
    queued: int = 0


def links_queue(*, incident: Incident, limit: int | None = None) -> LinksQueued:
    """Queue a link for every points payout still ``created`` that has somewhere to send it, in
    chunks (each its own transaction; rows locked with SKIP LOCKED so two runs share the work and
    never send one payout two links). Does nothing before ``links_from`` or after the deadline."""
    now = clock.now()
    if not links_due(incident, now):
        return LinksQueued(due=False)
    queued = 0
    while limit is None or queued < limit:
        size = CHUNK if limit is None else min(CHUNK, limit - queued)
        with transaction.atomic():
            chunk = list(
                Payout.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("application")
                .filter(incident=incident, method=Payout.Method.POINTS, status=Payout.Status.CREATED)
                .exclude(contact="")
                .order_by("pk")[:size]
            )
            if not chunk:
                break
            _send_links(chunk, incident=incident, now=now)
            ids = [payout.pk for payout in chunk]
            # Set-based move created -> link_sent (a declared transition; the trigger checks it).
            Payout.objects.filter(pk__in=ids, status=Payout.Status.CREATED).update(
                status=Payout.Status.LINK_SENT, updated_at=now
            )
            PayoutStatusChange.objects.bulk_create(
                PayoutStatusChange(
                    payout_id=pk, from_status="created", to_status="link_sent", note="受取URLの送付", at=now
                )
                for pk in ids
            )
        queued += len(chunk)
    return LinksQueued(due=True, queued=queued)


def link_resend(*, payout_id: int, actor: User | None) -> ReceiptLink:
    """Send a new link in place of the live one (lost phone, deleted message): the old token stops
    working at once. Only while the traveller can still choose."""
    now = clock.now()
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(of=("self",))
            .select_related("application", "incident")
            .get(pk=payout_id)
        )
        if payout.status != Payout.Status.LINK_SENT:
            raise LinkError(
                f"支払 {payout}: 「{payout.get_status_display()}」の支払には受取URLを再送できません"
            )
        if now >= receipt_deadline_end(payout.incident):
            raise LinkError(f"支払 {payout}: 受取期限を過ぎているため再送できません")
        if not payout.contact:
            raise LinkError(f"支払 {payout}: 送付先の連絡先がありません")
        ReceiptLink.objects.filter(payout=payout, voided_at__isnull=True).update(voided_at=now)
        link = _send_link(payout, incident=payout.incident, now=now)
        # Not a move of the status: the history notes it beside the moves.
        PayoutStatusChange.objects.create(
            payout=payout,
            from_status=payout.status,
            to_status=payout.status,
            actor=actor,
            note="受取URLの再送（以前のURLは無効）",
            at=now,
        )
    return link


@dataclass
class PayoutsExpired:
    due: bool
    expired: int = 0


def payouts_expire(*, incident: Incident) -> PayoutsExpired:
    """After the receipt deadline, every points payout with no choice becomes ``expired`` (the
    notice: 受取期限 2023-05-31). A choice made in time goes on to the vendor."""
    now = clock.now()
    if now < receipt_deadline_end(incident):
        return PayoutsExpired(due=False)
    with transaction.atomic():
        ids = list(
            Payout.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(incident=incident, status__in=[Payout.Status.CREATED, Payout.Status.LINK_SENT])
            .values_list("pk", "status")
        )
        for status in (Payout.Status.CREATED, Payout.Status.LINK_SENT):
            Payout.objects.filter(pk__in=[pk for pk, s in ids if s == status], status=status).update(
                status=Payout.Status.EXPIRED, updated_at=now
            )
        PayoutStatusChange.objects.bulk_create(
            PayoutStatusChange(payout_id=pk, from_status=s, to_status="expired", note="受取期限切れ", at=now)
            for pk, s in ids
        )
    return PayoutsExpired(due=True, expired=len(ids))
