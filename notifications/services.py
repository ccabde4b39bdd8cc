"""The outbox's services: enqueue a message in the caller's transaction, relay it once it commits.

Delivery guarantee (docs/architecture.md, "Notifications", says it in full):
- Nothing is lost: the row commits with the decision that causes it; the send task is enqueued on
  commit, and ``message_sweep`` re-enqueues every row that is due and unclaimed, or whose
  sender's lease ran out (a worker killed mid-send, a task lost with the broker).
- Nothing is sent twice by two workers: a sender first *claims* the row (``SELECT ... FOR UPDATE
  SKIP LOCKED``, status ``sending``, a lease), commits, and only then calls the provider.
- A worker killed after the provider accepted a message but before the row says so leaves the
  row ``sending``; once the lease runs out the message is sent again **with the same key**. The
  file backend writes the same file name (it overwrites), the SMS adapter sends the same
  ``Idempotency-Key`` (the provider answers with the first SMS), so these arrive once. SMTP has
  no such key: there the repeat carries the same Message-ID, and the guarantee is at-least-once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import traceback
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Now
from django.template import Context, engines

from notifications.backends import Envelope, PermanentSendError, TransientSendError, get_backend
from notifications.models import Message, MessageStatusChange
from notifications.phones import mobile_e164

logger = logging.getLogger(__name__)

_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,100}")
SECRET_MASK = "●●●●●●"  # noqa: S105 - what a secret is shown as, not a secret


class MessageInvalid(ValueError):
    pass


class TransitionError(RuntimeError):
    pass


def _languages() -> set[str]:
    return {code for code, _ in settings.LANGUAGES}


def message_render(*, template: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Render ``templates/notifications/<template>.<language>.txt``: first line subject, rest body.

    Plain text: nothing is HTML-escaped (a name with & stays as typed).
    """
    if not _TEMPLATE_NAME.fullmatch(template):
        raise MessageInvalid(f"template name {template!r} is not [a-z0-9_]+")
    if language not in _languages():
        raise MessageInvalid(f"language {language!r} is not one of {sorted(_languages())}")
    engine = engines["django"].engine  # type: ignore[attr-defined]
    text = engine.get_template(f"notifications/{template}.{language}.txt").render(
        Context(context, autoescape=False)
    )
    subject, _, body = text.lstrip("\n").partition("\n")
    return subject.strip(), body.strip("\n").rstrip() + "\n"


def _recipient(channel: str, to: str) -> str:
    if channel == Message.Channel.SMS:
        return mobile_e164(to)  # raises NotAMobileNumber: a landline is refused here, not later
    if channel == Message.Channel.EMAIL:
        address = to.strip()
        try:
            validate_email(address)
        except ValidationError as exc:
            raise MessageInvalid("not an e-mail address") from exc
        local, _, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}"
    raise MessageInvalid(f"channel {channel!r} is not 'sms' or 'email'")


def _record(message: Message, *, from_status: str, actor: User | None, note: str) -> None:
    MessageStatusChange.objects.create(
        message=message, from_status=from_status, to_status=message.status, actor=actor, note=note[:500]
    )


def _schedule_send(message_id: int) -> None:
    from notifications.tasks import message_send_task  # tasks import this module

    message_send_task.delay(message_id)


def message_enqueue(
    *,
    channel: str,
    to: str,
    template: str,
    context: dict[str, Any],
    reference: str,
    language: str = "ja",
) -> Message:
    """Write the outbox row in the caller's transaction; it is sent once that transaction commits.

    Raises ``NotAMobileNumber`` for an SMS to anything but 060/070/080/090, ``MessageInvalid``
    for an unknown channel, language or template name or a malformed address, and
    ``TemplateDoesNotExist`` for a missing template — all before anything is written.
    """
    recipient = _recipient(channel, to)
    subject, body = message_render(template=template, language=language, context=context)
    secrets = {key: SECRET_MASK for key in settings.NOTIFY_SECRET_CONTEXT_KEYS if key in context}
    shown_subject, body_shown = message_render(
        template=template, language=language, context={**context, **secrets}
    )
    if shown_subject != subject:
        raise MessageInvalid(f"template {template!r} puts a secret ({', '.join(secrets)}) in the subject")
    # No savepoint of its own: a failure here fails the caller's transaction anyway. The INSERT
    # returns the columns the database fills (db_default), so the row needs no second read.
    with transaction.atomic(savepoint=False):
        message = Message.objects.create(
            channel=channel,
            to=recipient,
            template=template,
            language=language,
            subject=subject[:200],
            body=body,
            body_shown=body_shown,
            reference=str(reference)[:64],
        )
        _record(message, from_status="", actor=None, note="enqueued")
        # robust: a broker that is down at commit must not turn a committed decision into an
        # error page; the sweep sends the row instead.
        transaction.on_commit(partial(_schedule_send, message.pk), robust=True)
    return message


@dataclass(frozen=True)
class Outgoing:
    """One message of :func:`messages_enqueue`: the arguments of :func:`message_enqueue`."""

    channel: str
    to: str
    template: str
    context: dict[str, Any]
    reference: str
    language: str = "ja"


def _schedule_sends(message_ids: list[int]) -> None:
    from notifications.tasks import message_send_task  # tasks import this module

    # One producer (one broker connection) for the whole batch, not one acquired per message.
    with message_send_task.app.producer_or_acquire() as producer:
        for message_id in message_ids:
            message_send_task.apply_async((message_id,), producer=producer)


def messages_enqueue(outgoing: list[Outgoing]) -> list[Message]:
    """:func:`message_enqueue` for many messages at once (receipt links, by the thousand): each is
    validated and rendered the same way, then the rows and their history are written with two
    INSERTs in the caller's transaction, and the send tasks are enqueued when it commits. Raises
    as :func:`message_enqueue` does, before anything is written."""
    prepared: list[Message] = []
    secret_keys = settings.NOTIFY_SECRET_CONTEXT_KEYS
    for item in outgoing:
        recipient = _recipient(item.channel, item.to)
        subject, body = message_render(template=item.template, language=item.language, context=item.context)
        secrets = {key: SECRET_MASK for key in secret_keys if key in item.context}
        shown_subject, body_shown = message_render(
            template=item.template, language=item.language, context={**item.context, **secrets}
        )
        if shown_subject != subject:
            raise MessageInvalid(
                f"template {item.template!r} puts a secret ({', '.join(secrets)}) in the subject"
            )
        prepared.append(
            Message(
                channel=item.channel,
                to=recipient,
                template=item.template,
                language=item.language,
                subject=subject[:200],
                body=body,
                body_shown=body_shown,
                reference=str(item.reference)[:64],
            )
        )
    with transaction.atomic():
        messages = Message.objects.bulk_create(prepared)
        MessageStatusChange.objects.bulk_create(
            MessageStatusChange(message=m, from_status="", to_status=Message.Status.PENDING, note="enqueued")
            for m in messages
        )
        transaction.on_commit(partial(_schedule_sends, [m.pk for m in messages]), robust=True)
    return messages


@dataclass(frozen=True)
class SendOutcome:
    status: str  # "sent", "retry", "failed", or "skipped" (not due, already sent, or claimed)
    retry_in: float | None = None


def message_claim(*, message_id: int) -> Message | None:
    """Take the row for one send attempt, or None if it is not due, done, or held by a live sender."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id)
            .filter(
                Q(status=Message.Status.PENDING, next_attempt_at__lte=Now())
                | Q(status=Message.Status.SENDING, lease_until__lt=Now())
            )
            .first()
        )
        if message is None:
            return None
        from_status = message.status
        if from_status == Message.Status.SENDING and message.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            # Every sender so far died mid-send (a message that crashes the worker?): stop here
            # rather than take the worker down once per lease forever. Staff can resend it.
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.FAILED,
                lease_until=None,
                updated_at=Now(),
                last_error=f"the sender died during each of {message.attempts} attempts",
            )
            message.refresh_from_db()
            _record(message, from_status=from_status, actor=None, note="gave up: every sender died")
            return None
        lease = dt.timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SENDING,
            lease_until=Now() + lease,
            attempts=F("attempts") + 1,
            updated_at=Now(),
        )
        message.refresh_from_db()
        note = f"attempt {message.attempts}"
        if from_status == Message.Status.SENDING:
            note += ": the previous sender's lease ran out before it recorded the result"
        _record(message, from_status=from_status, actor=None, note=note)
    return message


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` tries: base · 2^(attempts-1), capped."""
    base = float(settings.NOTIFY_RETRY_BASE_SECONDS)
    return float(min(base * 2 ** max(attempts - 1, 0), settings.NOTIFY_RETRY_MAX_SECONDS))


def _finish(message: Message, *, note: str, **changes: Any) -> bool:
    """Record the attempt's result, unless another sender took the row over meanwhile."""
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, status=Message.Status.SENDING, attempts=message.attempts
        ).update(updated_at=Now(), lease_until=None, **changes)
        if not updated:
            logger.warning("message %s: taken over by another sender; result not recorded", message.pk)
            return False
        message.refresh_from_db()
        _record(message, from_status=Message.Status.SENDING, actor=None, note=note)
    return True


def message_send(*, message_id: int) -> SendOutcome:
    """One send attempt: claim, hand over to the backend (outside any transaction), record."""
    message = message_claim(message_id=message_id)
    if message is None:
        return SendOutcome("skipped")
    envelope = Envelope(
        message_id=message.pk,
        key=str(message.key),
        channel=message.channel,
        to=message.to,
        subject=message.subject,
        body=message.body,
        reference=message.reference,
    )
    try:
        provider_id = get_backend(message.channel).send(envelope)
    except TransientSendError as exc:
        if message.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            _finish(
                message,
                note=f"gave up after {message.attempts} attempts",
                status="failed",
                last_error=str(exc),
            )
            logger.warning("message %s failed after %s attempts", message.pk, message.attempts)
            return SendOutcome("failed")
        delay = retry_delay(message.attempts)
        _finish(
            message,
            note=f"transient error; next try in {delay:g} s",
            status=Message.Status.PENDING,
            next_attempt_at=Now() + dt.timedelta(seconds=delay),
            last_error=str(exc),
        )
        logger.info("message %s: transient error, retry in %s s", message.pk, delay)
        return SendOutcome("retry", retry_in=delay)
    except PermanentSendError as exc:
        _finish(message, note="permanent error", status=Message.Status.FAILED, last_error=str(exc))
        logger.warning("message %s failed permanently", message.pk)
        return SendOutcome("failed")
    except Exception as exc:
        # Not a named transient error: retrying blindly could repeat whatever went wrong. The
        # traceback goes to the row (staff only), not to the log: it may quote the recipient.
        _finish(
            message,
            note="unexpected error",
            status=Message.Status.FAILED,
            last_error=traceback.format_exc()[-4000:],
        )
        logger.error("message %s: unexpected %s in the backend", message.pk, type(exc).__name__)
        return SendOutcome("failed")
    _finish(
        message,
        note="sent",
        status=Message.Status.SENT,
        provider_id=provider_id[:200],
        sent_at=Now(),
        last_error="",
    )
    return SendOutcome("sent")


def messages_due() -> QuerySet[Message]:
    """Rows the live path left behind: due and unclaimed for a while, or held by an expired lease."""
    grace = dt.timedelta(seconds=settings.NOTIFY_SWEEP_GRACE_SECONDS)
    return Message.objects.filter(
        Q(status=Message.Status.PENDING, next_attempt_at__lte=Now() - grace)
        | Q(status=Message.Status.SENDING, lease_until__lt=Now())
    )


def message_sweep(*, limit: int = 1000) -> list[int]:
    """The ids of left-behind rows, oldest first, for the caller to enqueue (claims keep it safe)."""
    return list(messages_due().order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])


def message_resend(*, message_id: int, actor: User | None) -> Message:
    """A failed message goes back to the outbox (staff, after fixing what made it fail)."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if Message.Status.PENDING not in Message.TRANSITIONS[message.status]:
            raise TransitionError(f"a message in state {message.status!r} cannot be resent")
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.PENDING, next_attempt_at=Now(), updated_at=Now()
        )
        message.refresh_from_db()
        _record(message, from_status=Message.Status.FAILED, actor=actor, note="resent by staff")
        transaction.on_commit(partial(_schedule_send, message.pk), robust=True)
    return message
