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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Now
from django.template import Context, engines

from config.inserts import NewRow, insert_rows
from notifications.backends import Envelope, PermanentSendError, TransientSendError, get_backend
from notifications.models import Message, MessageStatusChange
from notifications.phones import mobile_e164
from notifications.publisher import Publisher

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


# One message's send task (a code, a confirmation, a resend) is published by this process's
# publisher thread, batched with whatever else has just committed (notifications/publisher.py).
_publisher = Publisher(lambda message_ids: schedule_sends(message_ids))


def _schedule_send(message_id: int) -> None:
    from notifications.tasks import message_send_task  # tasks import this module

    if message_send_task.app.conf.task_always_eager:
        message_send_task.delay(message_id)  # the tests' eager mode: sent at once, in this thread
    else:
        _publisher.send_soon(message_id)


def message_prepare(
    *,
    channel: str,
    to: str,
    template: str,
    context: dict[str, Any],
    reference: str,
    language: str = "ja",
) -> Message:
    """The outbox row :func:`message_enqueue` writes, validated and rendered but not yet saved.

    Raises ``NotAMobileNumber`` for an SMS to anything but 060/070/080/090, ``MessageInvalid``
    for an unknown channel, language or template name or a malformed address (or a template that
    puts a secret in the subject), and ``TemplateDoesNotExist`` for a missing template.
    """
    recipient = _recipient(channel, to)
    subject, body = message_render(template=template, language=language, context=context)
    secrets = {key: SECRET_MASK for key in settings.NOTIFY_SECRET_CONTEXT_KEYS if key in context}
    shown_subject, body_shown = message_render(
        template=template, language=language, context={**context, **secrets}
    )
    if shown_subject != subject:
        raise MessageInvalid(f"template {template!r} puts a secret ({', '.join(secrets)}) in the subject")
    return Message(
        channel=channel,
        to=recipient,
        template=template,
        language=language,
        subject=subject[:200],
        body=body,
        body_shown=body_shown,
        reference=str(reference)[:64],
    )


def message_rows(message: Message) -> list[NewRow]:
    """What an enqueued message is in the database — its row and its first status change — for
    ``config.inserts.insert_rows``, alone or beside the rows of what causes the message (an
    application and its code: one statement). Call :func:`message_send_on_commit` after."""
    enqueued = MessageStatusChange(message=message, from_status="", to_status=message.status, note="enqueued")
    return [
        NewRow("message", message),
        NewRow("message_enqueued", enqueued, parents={"message_id": "message"}),
    ]


def message_send_on_commit(message: Message) -> None:
    """The send task, enqueued once the transaction that wrote ``message`` commits (at once when
    there is none: the one statement of ``insert_rows`` has committed)."""
    # robust: a broker that is down at commit must not turn a committed decision into an error
    # page; the sweep sends the row instead.
    transaction.on_commit(partial(_schedule_send, message.pk), robust=True)


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

    Raises as :func:`message_prepare` does, before anything is written. The row and its first
    status change are one INSERT statement (no transaction of its own is needed around them).
    """
    message = message_prepare(
        channel=channel, to=to, template=template, context=context, reference=reference, language=language
    )
    insert_rows(message_rows(message))
    message_send_on_commit(message)
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


def schedule_sends(message_ids: list[int]) -> None:
    from notifications.tasks import message_send_batch_task  # tasks import this module

    # One task per NOTIFY_SEND_BATCH messages, all published through one producer (one broker
    # connection): a worker claims, sends and records a batch at a time.
    size = settings.NOTIFY_SEND_BATCH
    with message_send_batch_task.app.producer_or_acquire() as producer:
        for start in range(0, len(message_ids), size):
            message_send_batch_task.apply_async((message_ids[start : start + size],), producer=producer)


def messages_enqueue(outgoing: list[Outgoing]) -> list[Message]:
    """:func:`message_enqueue` for many messages at once (receipt links, by the thousand): each is
    validated and rendered the same way, then the rows and their history are written with two
    INSERTs in the caller's transaction, and the send tasks are enqueued when it commits. Raises
    as :func:`message_enqueue` does, before anything is written."""
    prepared = [
        message_prepare(
            channel=item.channel,
            to=item.to,
            template=item.template,
            context=item.context,
            reference=item.reference,
            language=item.language,
        )
        for item in outgoing
    ]
    with transaction.atomic():
        messages = Message.objects.bulk_create(prepared)
        MessageStatusChange.objects.bulk_create(
            MessageStatusChange(message=m, from_status="", to_status=Message.Status.PENDING, note="enqueued")
            for m in messages
        )
        transaction.on_commit(partial(schedule_sends, [m.pk for m in messages]), robust=True)
    return messages


@dataclass(frozen=True)
class SendOutcome:
    status: str  # "sent", "retry", "failed", or "skipped" (not due, already sent, or claimed)
    retry_in: float | None = None


# One statement takes a batch of rows for one send attempt each: the rows that are due and not
# held by a live sender (SKIP LOCKED: a row another sender is claiming is left to it, not waited
# for), each moved to ``sending`` with a lease, and a history row for each move. A row whose
# earlier senders all died mid-send (NOTIFY_MAX_ATTEMPTS leases ran out: a message that crashes
# the worker?) is failed instead of taken, rather than take the worker down once per lease
# forever; staff can resend it. Times are the statement's, as Django's ``Now()`` (the rows' own
# ``db_default``) gives them on PostgreSQL.
_CLAIM_SQL = """
WITH due AS (
    SELECT id, status, (status = 'sending' AND attempts >= %(max_attempts)s) AS gives_up
    FROM notifications_message
    WHERE id = ANY(%(ids)s)
      AND ((status = 'pending' AND next_attempt_at <= statement_timestamp())
           OR (status = 'sending' AND lease_until < statement_timestamp()))
    ORDER BY id
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE notifications_message AS m SET
        status = CASE WHEN due.gives_up THEN 'failed' ELSE 'sending' END,
        lease_until = CASE WHEN due.gives_up THEN NULL
            ELSE statement_timestamp() + make_interval(secs => %(lease_seconds)s) END,
        attempts = m.attempts + CASE WHEN due.gives_up THEN 0 ELSE 1 END,
        last_error = CASE WHEN due.gives_up
            THEN 'the sender died during each of ' || m.attempts || ' attempts'
            ELSE m.last_error END,
        updated_at = statement_timestamp()
    FROM due
    WHERE m.id = due.id
    RETURNING m.id, m.key, m.channel, m."to", m.subject, m.body, m.reference, m.status, m.attempts,
              due.status AS from_status
), noted AS (
    INSERT INTO notifications_messagestatuschange (message_id, from_status, to_status, note, at)
    SELECT id, from_status, status,
           CASE WHEN status = 'failed' THEN 'gave up: every sender died'
                WHEN from_status = 'sending' THEN 'attempt ' || attempts
                     || ': the previous sender''s lease ran out before it recorded the result'
                ELSE 'attempt ' || attempts END,
           statement_timestamp()
    FROM moved
)
SELECT id, key, channel, "to", subject, body, reference, attempts FROM moved
WHERE status = 'sending' ORDER BY id
"""

# One statement records the results of a batch: each row moves from ``sending`` to its outcome,
# unless another sender took it over meanwhile (its lease ran out: ``attempts`` moved on), and
# each move gets its history row. Returns the ids recorded.
_FINISH_SQL = """
WITH result AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::integer[], %(statuses)s::text[],
                         %(provider_ids)s::text[], %(errors)s::text[], %(retry_in)s::float8[],
                         %(notes)s::text[])
        AS r(id, attempts, status, provider_id, last_error, retry_in, note)
), recorded AS (
    UPDATE notifications_message AS m SET
        status = r.status,
        lease_until = NULL,
        updated_at = statement_timestamp(),
        provider_id = CASE WHEN r.status = 'sent' THEN r.provider_id ELSE m.provider_id END,
        sent_at = CASE WHEN r.status = 'sent' THEN statement_timestamp() END,
        next_attempt_at = CASE WHEN r.status = 'pending'
            THEN statement_timestamp() + make_interval(secs => r.retry_in) ELSE m.next_attempt_at END,
        last_error = r.last_error
    FROM result AS r
    WHERE m.id = r.id AND m.status = 'sending' AND m.attempts = r.attempts
    RETURNING m.id, m.status, r.note
)
INSERT INTO notifications_messagestatuschange (message_id, from_status, to_status, note, at)
SELECT id, 'sending', status, note, statement_timestamp() FROM recorded
RETURNING message_id
"""


def messages_claim(*, message_ids: list[int]) -> list[Message]:
    """Take the rows of ``message_ids`` that are due for one send attempt each (in id order); the
    rest — not due, done, or held by a live sender — are left as they are."""
    if not message_ids:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "ids": list(message_ids),
                "max_attempts": settings.NOTIFY_MAX_ATTEMPTS,
                "lease_seconds": settings.NOTIFY_LEASE_SECONDS,
            },
        )
        columns = [column.name for column in cursor.description]
        claimed = [
            Message(status=Message.Status.SENDING, **dict(zip(columns, row, strict=True))) for row in cursor
        ]
    for message in claimed:
        message._state.adding = False  # a row read back, not a new one
    return claimed


def message_claim(*, message_id: int) -> Message | None:
    """Take the row for one send attempt, or None if it is not due, done, or held by a live sender."""
    claimed = messages_claim(message_ids=[message_id])
    return claimed[0] if claimed else None


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` tries: base · 2^(attempts-1), capped."""
    base = float(settings.NOTIFY_RETRY_BASE_SECONDS)
    return float(min(base * 2 ** max(attempts - 1, 0), settings.NOTIFY_RETRY_MAX_SECONDS))


@dataclass(frozen=True)
class _Result:
    """What one attempt ended in, as the row will record it."""

    message: Message
    status: str  # the row's next status: sent, pending (to retry) or failed
    note: str
    provider_id: str = ""
    last_error: str = ""
    retry_in: float = 0.0

    @property
    def outcome(self) -> SendOutcome:
        if self.status == Message.Status.PENDING:
            return SendOutcome("retry", retry_in=self.retry_in)
        return SendOutcome(self.status)


def _attempt(message: Message) -> _Result:
    """Hand one claimed message to its backend (outside any transaction) and sort the answer."""
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
            logger.warning("message %s failed after %s attempts", message.pk, message.attempts)
            return _Result(
                message, "failed", f"gave up after {message.attempts} attempts", last_error=str(exc)
            )
        delay = retry_delay(message.attempts)
        logger.info("message %s: transient error, retry in %s s", message.pk, delay)
        return _Result(
            message,
            Message.Status.PENDING,
            f"transient error; next try in {delay:g} s",
            last_error=str(exc),
            retry_in=delay,
        )
    except PermanentSendError as exc:
        logger.warning("message %s failed permanently", message.pk)
        return _Result(message, "failed", "permanent error", last_error=str(exc))
    except Exception as exc:
        # Not a named transient error: retrying blindly could repeat whatever went wrong. The
        # traceback goes to the row (staff only), not to the log: it may quote the recipient.
        logger.error("message %s: unexpected %s in the backend", message.pk, type(exc).__name__)
        return _Result(message, "failed", "unexpected error", last_error=traceback.format_exc()[-4000:])
    return _Result(message, Message.Status.SENT, "sent", provider_id=provider_id[:200])


def _deliver(claimed: list[Message]) -> list[_Result]:
    """Every claimed message handed over at once, up to NOTIFY_SEND_CONCURRENCY calls in flight:
    a provider's latency is waited out side by side, not one message after another."""
    if len(claimed) <= 1:
        return [_attempt(message) for message in claimed]
    threads = min(len(claimed), settings.NOTIFY_SEND_CONCURRENCY)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbox-send") as pool:
        return list(pool.map(_attempt, claimed))


def _record_results(results: list[_Result]) -> set[int]:
    """Write every result in one statement; the ids recorded (not those another sender took over)."""
    if not results:
        return set()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _FINISH_SQL,
            {
                "ids": [r.message.pk for r in results],
                "attempts": [r.message.attempts for r in results],
                "statuses": [r.status for r in results],
                "provider_ids": [r.provider_id for r in results],
                "errors": [r.last_error for r in results],
                "retry_in": [r.retry_in for r in results],
                "notes": [r.note[:500] for r in results],
            },
        )
        recorded = {row[0] for row in cursor}
    for result in results:
        if result.message.pk not in recorded:
            logger.warning("message %s: taken over by another sender; result not recorded", result.message.pk)
    return recorded


def messages_send(*, message_ids: list[int]) -> dict[int, SendOutcome]:
    """One send attempt for each of ``message_ids``: claim them together, hand them to their
    backends side by side (outside any transaction), record the results together. Each id maps to
    its outcome; "skipped" for a row that was not due, already done, or held by another sender."""
    claimed = messages_claim(message_ids=message_ids)
    results = _deliver(claimed)
    _record_results(results)
    outcomes = {message_id: SendOutcome("skipped") for message_id in message_ids}
    outcomes.update({result.message.pk: result.outcome for result in results})
    return outcomes


def message_send(*, message_id: int) -> SendOutcome:
    """One send attempt for one message (:func:`messages_send` of one)."""
    return messages_send(message_ids=[message_id])[message_id]


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
