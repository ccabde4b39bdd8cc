"""Reminders: a ladder by each person's state (issue #10 §4), sent through the outbox.

Rungs (dates are the incident's, read in Japan time):

    code_not_entered  applied on the site, the six-digit code not entered for 24 hours
                      (until the application deadline)
    not_applied       on the application route (1-1 without a usable app contact... but the
                      platform gave a mobile number or an e-mail), not applied 10 days before the
                      application deadline (4/20 for 4/30), until that deadline
    link_not_opened   the receipt link not opened 7 days after it was sent (until the receipt
                      deadline)
    not_chosen        no brand chosen 7 days before the receipt deadline (5/24 for 5/31), until it
    bank_details      a transfer returned by the bank and no corrected account for 7 days

Each subject (an application, a coupon, a payout) gets each rung at most once: the row is
inserted first, under ``reminder_once_per_rung``, and the message in the same transaction, so two
runs at once send one. Nothing is sent after the rung's deadline, nor to a contact that opted out
(the link at the end of every reminder; only a keyed hash of the address is kept). Runs from
``run_payouts`` (and beat), a bounded number per rung and run: the next run continues.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction

from claims.models import Application, Entitlement, Incident
from config import clock
from notifications.phones import NotAMobileNumber, is_mobile
from notifications.services import MessageInvalid, message_enqueue
from payouts.models import Payout, ReceiptLink, Reminder, ReminderOptOut, TransferLine
from payouts.services.links import jst_start

Rung = Reminder.Rung

CODE_AFTER = dt.timedelta(hours=24)
LINK_AFTER = dt.timedelta(days=7)
BANK_AFTER = dt.timedelta(days=7)
NOT_APPLIED_DAYS_BEFORE = 10  # 4/20 for an application deadline of 4/30 (the date)
NOT_CHOSEN_DAYS_BEFORE = 7  # 5/24 for a receipt deadline of 5/31
PER_RUNG_AND_RUN = 5_000
OPT_OUT_SALT = "payouts.reminders.opt-out"


def _end(day: dt.date) -> dt.datetime:
    """The end of ``day`` in Japan (exclusive): 00:00 JST of the next day."""
    return jst_start(day + dt.timedelta(days=1))


def contact_hash(channel: str, contact: str) -> str:
    normal = contact.strip().lower() if channel == "email" else contact.strip()
    return hmac.new(settings.SECRET_KEY.encode(), f"{channel}:{normal}".encode(), hashlib.sha256).hexdigest()


def opt_out_url(channel: str, contact: str) -> str:
    signed = signing.dumps(contact_hash(channel, contact), salt=OPT_OUT_SALT)
    return settings.PUBLIC_SITE_URL.rstrip("/") + f"/r/stop/{signed}"


def opt_out_valid(*, signed: str) -> bool:
    try:
        signing.loads(signed, salt=OPT_OUT_SALT)
    except signing.BadSignature:
        return False
    return True


def opt_out(*, signed: str) -> bool:
    """Record the opt-out of a signed link; False for a link that is not ours."""
    try:
        digest = signing.loads(signed, salt=OPT_OUT_SALT)
    except signing.BadSignature:
        return False
    ReminderOptOut.objects.get_or_create(contact_hash=digest, defaults={"at": clock.now()})
    return True


@dataclass(frozen=True)
class Due:
    rung: str
    subject: str
    channel: str
    to: str
    language: str
    reference: str
    context: dict[str, str]


@dataclass
class RemindersSent:
    sent: dict[str, int] = field(default_factory=dict)
    opted_out: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def _app_contact(coupon: Any) -> tuple[str, str]:
    phone = str(coupon.app_phone or "")
    if phone and is_mobile(phone):
        return "sms", phone
    if coupon.app_email:
        return "email", coupon.app_email
    return "", ""


def _date_ja(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _due(incident: Incident, now: dt.datetime) -> Iterator[Due]:
    application_end = _end(incident.application_deadline)
    receipt_end = _end(incident.receipt_deadline)
    dates = {
        "application_deadline": _date_ja(incident.application_deadline),
        "receipt_deadline": _date_ja(incident.receipt_deadline),
        "site_url": settings.PUBLIC_SITE_URL.rstrip("/") + "/",
    }
    done = set(Reminder.objects.filter(incident=incident).values_list("rung", "subject"))

    def fresh(rung: str, subject: str) -> bool:
        return (rung, subject) not in done

    if now < application_end:
        waiting = (
            Application.objects.filter(
                incident=incident,
                status=Application.Status.AWAITING_VERIFICATION,
                code_sent_at__lte=now - CODE_AFTER,
            )
            .exclude(coupon__applications__status=Application.Status.SUBMITTED)
            .order_by("pk")
        )
        for application in waiting[:PER_RUNG_AND_RUN]:
            subject = f"application:{application.pk}"
            phone = str(application.phone or "")
            channel, to = ("sms", phone) if phone and is_mobile(phone) else ("email", application.email)
            if to and fresh(Rung.CODE_NOT_ENTERED, subject):
                yield Due(
                    Rung.CODE_NOT_ENTERED, subject, channel, to, application.language,
                    str(application.public_id), dates,
                )  # fmt: skip
    if (
        jst_start(incident.application_deadline - dt.timedelta(days=NOT_APPLIED_DAYS_BEFORE))
        <= now
        < application_end
    ):
        owed = (
            Entitlement.objects.filter(
                incident=incident,
                route=Entitlement.Route.APPLICATION,
                status__in=[Entitlement.Status.EXTENDED, Entitlement.Status.PAYABLE],
            )
            .exclude(coupon__applications__status=Application.Status.SUBMITTED)
            .select_related("coupon")
            .order_by("coupon_id")
        )
        for entitlement in owed[:PER_RUNG_AND_RUN]:
            subject = f"coupon:{entitlement.coupon_id}"
            channel, to = _app_contact(entitlement.coupon)
            if to and fresh(Rung.NOT_APPLIED, subject):
                yield Due(Rung.NOT_APPLIED, subject, channel, to, "ja", entitlement.coupon_id, dates)
    if now < receipt_end:
        unopened = (
            ReceiptLink.objects.filter(
                payout__incident=incident,
                payout__status=Payout.Status.LINK_SENT,
                voided_at__isnull=True,
                opened_at__isnull=True,
                created_at__lte=now - LINK_AFTER,
            )
            .select_related("payout", "payout__application")
            .order_by("pk")
        )
        for link in unopened[:PER_RUNG_AND_RUN]:
            yield from _payout_due(Rung.LINK_NOT_OPENED, link.payout, dates, fresh)
    if jst_start(incident.receipt_deadline - dt.timedelta(days=NOT_CHOSEN_DAYS_BEFORE)) <= now < receipt_end:
        waiting_choice = (
            Payout.objects.filter(incident=incident, status=Payout.Status.LINK_SENT)
            .select_related("application")
            .order_by("pk")
        )
        for payout in waiting_choice[:PER_RUNG_AND_RUN]:
            yield from _payout_due(Rung.NOT_CHOSEN, payout, dates, fresh)
    returned = (
        Payout.objects.filter(
            incident=incident,
            method=Payout.Method.BANK,
            status=Payout.Status.AWAITING_BANK_DETAILS,
            transfer_lines__outcome=TransferLine.Outcome.RETURNED,
            transfer_lines__outcome_at__lte=now - BANK_AFTER,
        )
        .select_related("application")
        .distinct()
        .order_by("pk")
    )
    for payout in returned[:PER_RUNG_AND_RUN]:
        yield from _payout_due(Rung.BANK_DETAILS, payout, dates, fresh)


def _payout_due(rung: str, payout: Payout, dates: dict[str, str], fresh: Any) -> Iterator[Due]:
    subject = f"payout:{payout.pk}"
    if payout.contact and fresh(rung, subject):
        application = payout.application
        yield Due(
            rung,
            subject,
            payout.contact_channel,
            payout.contact,
            application.language if application else "ja",
            application.reference_number
            if application and application.reference_number
            else payout.inquiry_number,
            {**dates, "amount": f"{payout.amount_yen:,}"},
        )


def reminders_send(*, incident: Incident) -> RemindersSent:
    """Send every reminder that is due now (see the module's docstring). Idempotent."""
    now = clock.now()
    result = RemindersSent()
    stopped = set(ReminderOptOut.objects.values_list("contact_hash", flat=True))
    for due in list(_due(incident, now)):
        if contact_hash(due.channel, due.to) in stopped:
            result.opted_out += 1
            continue
        try:
            with transaction.atomic():
                reminder = Reminder.objects.create(
                    incident=incident, rung=due.rung, subject=due.subject, sent_at=now
                )
                reminder.message = message_enqueue(
                    channel=due.channel,
                    to=due.to,
                    template=f"reminder_{due.rung}",
                    context={**due.context, "stop_url": opt_out_url(due.channel, due.to)},
                    reference=due.reference,
                    language=due.language if due.language in ("ja", "en") else "ja",
                )
                reminder.save(update_fields=["message"])
        except IntegrityError:
            continue  # another run sent this rung first
        except (NotAMobileNumber, MessageInvalid):
            continue  # an address the outbox cannot send to: nothing recorded, nothing sent
        result.sent[due.rung] = result.sent.get(due.rung, 0) + 1
    return result
