"""The outbox in-process: rows in the caller's transaction, templates, claims, retries, refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.template import TemplateDoesNotExist
from django.utils import timezone

from notifications.backends import Envelope, PermanentSendError, TransientSendError
from notifications.models import Message, MessageStatusChange
from notifications.phones import NotAMobileNumber
from notifications.services import (
    MessageInvalid,
    TransitionError,
    message_claim,
    message_enqueue,
    message_render,
    message_resend,
    message_send,
    message_sweep,
    retry_delay,
)
from tests.notifications.conftest import outbox_files
from tests.threads import held_open

CODE_CONTEXT = {"code": "123456", "minutes": 30}


def enqueue_code(**overrides: object) -> Message:
    kwargs: dict = {
        "channel": "sms",
        "to": "090-1234-5678",
        "template": "verification_code",
        "context": CODE_CONTEXT,
        "reference": "42",
    }
    kwargs.update(overrides)
    return message_enqueue(**kwargs)


def expire(message: Message, **changes: object) -> None:
    """Move the row's timers into the past, as if the lease or the backoff had run out."""
    past = timezone.now() - dt.timedelta(hours=1)
    fields = {"next_attempt_at": past}
    if Message.objects.get(pk=message.pk).status == Message.Status.SENDING:
        fields["lease_until"] = past
    fields.update(changes)
    Message.objects.filter(pk=message.pk).update(**fields)


# --- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_sites_templates_render_in_both_languages(language: str) -> None:
    subject, body = message_render(template="verification_code", language=language, context=CODE_CONTEXT)
    assert "123456" in body
    assert "30" in body
    assert subject
    assert "\n" not in subject
    assert "123456" not in subject
    subject, body = message_render(
        template="application_confirmation",
        language=language,
        context={"reference_number": "RP-7K3M-9Q2X", "site_url": "https://example.jp/status?a=1&b=2"},
    )
    assert "RP-7K3M-9Q2X" in subject
    assert "RP-7K3M-9Q2X" in body
    assert "https://example.jp/status?a=1&b=2" in body  # plain text: & is not escaped


def test_japanese_templates_read_in_japanese() -> None:
    subject, body = message_render(template="verification_code", language="ja", context=CODE_CONTEXT)
    assert subject == "【地域クーポン補償】確認コードのお知らせ"
    assert body.startswith("確認コード：123456\n30分以内に")


def test_unknown_templates_languages_and_names_are_refused() -> None:
    with pytest.raises(TemplateDoesNotExist):
        message_render(template="no_such_template", language="ja", context={})
    with pytest.raises(MessageInvalid):
        message_render(template="verification_code", language="fr", context={})
    with pytest.raises(MessageInvalid):
        message_render(template="../403", language="ja", context={})


# --- enqueue -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_writes_a_pending_row_with_the_rendered_message(
    outbox_dir: Path, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = enqueue_code(to="０９０－１２３４－５６７８")
    message.refresh_from_db()
    assert message.status == Message.Status.PENDING
    assert message.to == "+819012345678"
    assert message.subject == "【地域クーポン補償】確認コードのお知らせ"
    assert "123456" in message.body  # to be sent
    assert "123456" not in message.body_shown  # what staff see
    assert "確認コード：●●●●●●" in message.body_shown
    assert message.reference == "42"
    assert message.attempts == 0
    assert len(callbacks) == 1  # the send waits for the commit
    assert outbox_files(outbox_dir) == []
    assert list(message.status_changes.values_list("to_status", flat=True)) == ["pending"]


@pytest.mark.django_db
@pytest.mark.parametrize("landline", ["03-1234-5678", "0470-22-1234", "0120-479-249", "050-1234-5678"])
def test_sms_to_a_landline_is_refused_and_nothing_is_written(landline: str, outbox_dir: Path) -> None:
    with pytest.raises(NotAMobileNumber) as refused:
        enqueue_code(to=landline)
    assert "携帯電話" in str(refused.value)
    assert Message.objects.count() == 0
    assert MessageStatusChange.objects.count() == 0


@pytest.mark.django_db
def test_bad_channel_or_address_is_refused_and_nothing_is_written(outbox_dir: Path) -> None:
    with pytest.raises(MessageInvalid):
        enqueue_code(channel="fax")
    with pytest.raises(MessageInvalid):
        enqueue_code(channel="email", to="not-an-address")
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_committed_message_is_sent_as_the_contracts_json(outbox_dir: Path) -> None:
    with transaction.atomic():
        message = enqueue_code(channel="email", to="Taro@Example.JP", language="en", reference="RP-7K3M-9Q2X")
    # Eager Celery in the tests: the on-commit task ran in-process.
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    [path] = outbox_files(outbox_dir)
    assert message.provider_id == path.name
    data = json.loads(path.read_text())
    assert set(data) == {"channel", "to", "subject", "body", "reference"}
    assert data["channel"] == "email"
    assert data["to"] == "Taro@example.jp"
    assert data["subject"] == "[Regional coupon compensation] Your verification code"
    assert "123456" in data["body"]
    assert data["reference"] == "RP-7K3M-9Q2X"
    assert [c.to_status for c in message.status_changes.all()] == ["pending", "sending", "sent"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_decision_sends_nothing(outbox_dir: Path) -> None:
    def decide_then_fail() -> None:
        with transaction.atomic():
            enqueue_code()
            raise RuntimeError("the application was not saved")

    with pytest.raises(RuntimeError):
        decide_then_fail()
    assert Message.objects.count() == 0
    assert outbox_files(outbox_dir) == []


# --- claims and re-sends ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_row_is_claimed_once(outbox_dir: Path) -> None:
    message = enqueue_code()
    assert message_claim(message_id=message.pk) is not None
    assert message_claim(message_id=message.pk) is None  # held by a live lease
    assert message_send(message_id=message.pk).status == "skipped"
    assert outbox_files(outbox_dir) == []


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_sender_is_skipped_not_waited_for(outbox_dir: Path) -> None:
    with transaction.atomic():
        message = enqueue_code()
    Message.objects.filter(pk=message.pk).update(
        status="pending", sent_at=None, next_attempt_at=timezone.now()
    )
    with held_open(lambda: list(Message.objects.select_for_update().filter(pk=message.pk))):
        assert message_claim(message_id=message.pk) is None


@pytest.mark.django_db
def test_a_sender_that_died_after_the_provider_call_is_repeated_on_the_same_file(outbox_dir: Path) -> None:
    # Given a message the first sender claimed and handed to the backend, then died
    message = enqueue_code()
    claimed = message_claim(message_id=message.pk)
    assert claimed is not None
    from notifications.backends.file import FileBackend

    FileBackend(outbox_dir).send(
        Envelope(
            message_id=claimed.pk,
            key=str(claimed.key),
            channel=claimed.channel,
            to=claimed.to,
            subject=claimed.subject,
            body=claimed.body,
            reference=claimed.reference,
        )
    )
    assert message_send(message_id=message.pk).status == "skipped"  # the lease still holds
    # When the lease runs out and the sweep hands it to another sender
    expire(message)
    assert message_sweep() == [message.pk]
    assert message_send(message_id=message.pk).status == "sent"
    # Then the message is there once, recorded sent after two attempts
    assert len(outbox_files(outbox_dir)) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert "lease ran out" in message.status_changes.get(from_status="sending", to_status="sending").note
    assert message_sweep() == []


@pytest.mark.django_db
def test_the_sweep_leaves_fresh_and_finished_rows_alone(outbox_dir: Path, settings) -> None:
    settings.NOTIFY_SWEEP_GRACE_SECONDS = 60
    fresh = enqueue_code()
    left_behind = enqueue_code()
    expire(left_behind)
    done = enqueue_code()
    expire(done)
    message_send(message_id=done.pk)
    assert message_sweep() == [left_behind.pk]
    assert fresh.pk not in message_sweep()


# --- retries and failures ----------------------------------------------------------------------


class Flaky:
    calls = 0

    def send(self, envelope: Envelope) -> str:
        type(self).calls += 1
        if type(self).calls < 3:
            raise TransientSendError("connection reset")
        return "provider-1"


class Refusing:
    def send(self, envelope: Envelope) -> str:
        raise PermanentSendError("invalid destination")


class Broken:
    def send(self, envelope: Envelope) -> str:
        raise KeyError("a bug")


def test_backoff_doubles_and_is_capped(settings) -> None:
    settings.NOTIFY_RETRY_BASE_SECONDS = 30
    settings.NOTIFY_RETRY_MAX_SECONDS = 3600
    assert [retry_delay(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


@pytest.mark.django_db
def test_a_transient_error_backs_off_then_succeeds(settings) -> None:
    settings.NOTIFY_BACKEND = f"{__name__}.Flaky"
    settings.NOTIFY_RETRY_BASE_SECONDS = 30
    Flaky.calls = 0
    message = enqueue_code()
    before = timezone.now()
    outcome = message_send(message_id=message.pk)
    assert (outcome.status, outcome.retry_in) == ("retry", 30)
    message.refresh_from_db()
    assert message.status == "pending"
    assert message.last_error == "connection reset"
    assert message.next_attempt_at - before >= dt.timedelta(seconds=29)
    assert message_send(message_id=message.pk).status == "skipped"  # not due yet
    expire(message)
    assert message_send(message_id=message.pk).retry_in == 60
    expire(message)
    assert message_send(message_id=message.pk).status == "sent"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.provider_id, message.last_error) == (
        "sent",
        3,
        "provider-1",
        "",
    )


@pytest.mark.django_db
def test_transient_errors_give_up_after_the_last_attempt(settings) -> None:
    settings.NOTIFY_BACKEND = f"{__name__}.Flaky"
    settings.NOTIFY_MAX_ATTEMPTS = 2
    Flaky.calls = 0
    message = enqueue_code()
    message_send(message_id=message.pk)
    expire(message)
    assert message_send(message_id=message.pk).status == "failed"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 2)


@pytest.mark.django_db
def test_a_message_whose_every_sender_died_is_failed_not_retried_forever(settings, outbox_dir: Path) -> None:
    settings.NOTIFY_MAX_ATTEMPTS = 2
    message = enqueue_code()
    for _ in range(2):  # two senders claim it and die before recording anything
        assert message_claim(message_id=message.pk) is not None
        expire(message)
    assert message_claim(message_id=message.pk) is None
    message.refresh_from_db()
    assert (message.status, message.attempts, message.lease_until) == ("failed", 2, None)
    assert "died" in message.last_error
    assert message_sweep() == []
    assert outbox_files(outbox_dir) == []


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["Refusing", "Broken"])
def test_permanent_and_unnamed_errors_fail_without_retry(settings, backend: str) -> None:
    settings.NOTIFY_BACKEND = f"{__name__}.{backend}"
    message = enqueue_code()
    outcome = message_send(message_id=message.pk)
    assert (outcome.status, outcome.retry_in) == ("failed", None)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at) == ("failed", 1, None)
    assert message.last_error
    expire(message)
    assert message_sweep() == []


@pytest.mark.django_db
def test_staff_resend_puts_a_failed_message_back_and_refuses_others(
    settings, outbox_dir: Path, django_user_model
) -> None:
    settings.NOTIFY_BACKEND = f"{__name__}.Refusing"
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    failed = enqueue_code()
    message_send(message_id=failed.pk)
    settings.NOTIFY_BACKEND = "file"
    message_resend(message_id=failed.pk, actor=staff)
    failed.refresh_from_db()
    assert failed.status == "pending"
    assert failed.status_changes.last().actor == staff
    assert message_send(message_id=failed.pk).status == "sent"
    with pytest.raises(TransitionError, match="'sent'"):
        message_resend(message_id=failed.pk, actor=staff)
    assert len(outbox_files(outbox_dir)) == 1


@pytest.mark.django_db
def test_the_database_refuses_an_sms_row_to_a_landline() -> None:
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            channel="sms", to="+81312345678", template="t", subject="s", body="b", reference="1"
        )
    assert connection.is_usable()


@pytest.mark.django_db(transaction=True)
def test_notify_check_sends_one_test_message_and_reports_it(outbox_dir: Path) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("notify_check", "--channel", "sms", "--to", "070-1111-2222", stdout=out)
    assert ": sent, attempts 1" in out.getvalue()
    [path] = outbox_files(outbox_dir)
    assert json.loads(path.read_text())["subject"] == "【地域クーポン補償】送信テスト"


@pytest.mark.django_db
def test_notify_check_refuses_a_landline_with_the_sentence_for_people(outbox_dir: Path) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="携帯電話"):
        call_command("notify_check", "--channel", "sms", "--to", "03-1234-5678")
    assert Message.objects.count() == 0


class Counting:
    calls: list[str] = []

    def send(self, envelope: Envelope) -> str:
        type(self).calls.append(envelope.key)
        return "counted"


@pytest.mark.django_db(transaction=True)
def test_senders_racing_for_one_message_send_it_once(settings) -> None:
    import threading

    settings.NOTIFY_BACKEND = f"{__name__}.Counting"
    Counting.calls = []
    message = enqueue_code()  # eager: sent once already on commit
    Message.objects.filter(pk=message.pk).update(
        status="pending", sent_at=None, next_attempt_at=timezone.now()
    )
    MessageStatusChange.objects.all().delete()
    Counting.calls = []
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def sender() -> None:
        try:
            start.wait(10)
            outcomes.append(message_send(message_id=message.pk).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["sent"] + ["skipped"] * 7
    assert Counting.calls == [str(message.key)]
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert list(message.status_changes.values_list("to_status", flat=True)) == ["sending", "sent"]


@pytest.mark.django_db
def test_a_template_that_puts_a_secret_in_the_subject_is_refused(settings, outbox_dir: Path) -> None:
    settings.NOTIFY_SECRET_CONTEXT_KEYS = ("reference_number",)
    with pytest.raises(MessageInvalid, match="subject"):
        enqueue_code(
            template="application_confirmation",
            context={"reference_number": "RP-7K3M-9Q2X", "site_url": "https://example.jp/"},
        )
    assert Message.objects.count() == 0
