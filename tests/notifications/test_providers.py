"""The production ways out, over real sockets on loopback: SMTP against aiosmtpd, and the SMS
adapter against a stand-in provider (the only mock: the provider we cannot reach from here)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from notifications.models import Message
from notifications.services import message_enqueue, message_send


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler: keeps what it is given, or answers RCPT/DATA with a set reply."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.NOTIFY_BACKEND = "live"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "noreply@compensation.example.jp"
    try:
        yield mailbox
    finally:
        controller.stop()


def enqueue_email(**overrides: Any) -> Message:
    kwargs: dict[str, Any] = {
        "channel": "email",
        "to": "hanako@example.jp",
        "template": "application_confirmation",
        "context": {"reference_number": "RP-7K3M-9Q2X", "site_url": "https://compensation.example.jp/status"},
        "reference": "RP-7K3M-9Q2X",
    }
    kwargs.update(overrides)
    return message_enqueue(**kwargs)


@pytest.mark.django_db
def test_an_email_makes_a_real_smtp_round_trip(smtp_server: Mailbox) -> None:
    message = enqueue_email()
    assert message_send(message_id=message.pk).status == "sent"
    [envelope] = smtp_server.received
    assert envelope.rcpt_tos == ["hanako@example.jp"]
    assert envelope.mail_from == "noreply@compensation.example.jp"
    email = message_from_bytes(envelope.original_content, policy=policy.default)
    # Django folds long encoded headers onto the next line; unfolding leaves the fold's space.
    assert email["Subject"].strip() == ("【地域クーポン補償】申請を受け付けました（受付番号 RP-7K3M-9Q2X）")
    body = email.get_content()
    assert "受付番号：RP-7K3M-9Q2X" in body
    message.refresh_from_db()
    # The Message-ID is the message's key: a repeat after a crash is recognisably the same mail.
    assert (
        email["Message-ID"].strip()
        == message.provider_id
        == f"<{message.key}@regionpay-compensation.invalid>"
    )


@pytest.mark.django_db
def test_smtp_4xx_is_retried_and_5xx_fails(smtp_server: Mailbox) -> None:
    smtp_server.data_reply = "451 4.3.0 Try again later"
    deferred = enqueue_email()
    outcome = message_send(message_id=deferred.pk)
    assert outcome.status == "retry"
    deferred.refresh_from_db()
    assert (deferred.status, deferred.last_error) == ("pending", "SMTP 451")

    smtp_server.data_reply = None
    smtp_server.rcpt_reply = "550 5.1.1 No such user"
    refused = enqueue_email(to="nobody@example.jp")
    assert message_send(message_id=refused.pk).status == "failed"
    refused.refresh_from_db()
    assert refused.status == "failed"
    assert "550" in refused.last_error
    assert smtp_server.received == []


@pytest.mark.django_db
def test_an_smtp_server_that_is_down_is_a_transient_error(settings) -> None:
    settings.NOTIFY_BACKEND = "live"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # not the tests' locmem
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    message = enqueue_email()
    assert message_send(message_id=message.pk).status == "retry"
    message.refresh_from_db()
    assert message.status == "pending"
    assert message.last_error.startswith("SMTP connection")


# --- SMS -----------------------------------------------------------------------------------------


class StandInProvider:
    """The provider's API as the adapter expects it: bearer key, Idempotency-Key, sandbox flag."""

    API_KEY = "test-api-key"

    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []
        self.by_key: dict[str, str] = {}
        self.requests = 0
        self.fail_with: list[int] = []  # statuses to answer first, in order
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                provider.requests += 1
                length = int(self.headers["Content-Length"])
                payload = json.loads(self.rfile.read(length))
                if self.headers["Authorization"] != f"Bearer {provider.API_KEY}":
                    return self.answer(401, {"error": "unauthorized"})
                if provider.fail_with:
                    return self.answer(provider.fail_with.pop(0), {"error": "try later"})
                if not payload["to"].startswith(("+8160", "+8170", "+8180", "+8190")):
                    return self.answer(400, {"error": "not a mobile number"})
                key = self.headers["Idempotency-Key"]
                if key not in provider.by_key:
                    provider.by_key[key] = ("sandbox-" if payload["sandbox"] else "sm-") + str(
                        len(provider.by_key) + 1
                    )
                    if not payload["sandbox"]:
                        provider.delivered.append(payload)
                return self.answer(201, {"id": provider.by_key[key]})

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"


@pytest.fixture
def sms_provider(settings) -> Iterator[StandInProvider]:
    provider = StandInProvider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    settings.NOTIFY_BACKEND = "live"
    settings.SMS_API_URL = provider.url
    settings.SMS_API_KEY = StandInProvider.API_KEY
    settings.SMS_SENDER = "REGIONPAY"
    settings.SMS_SANDBOX = False
    settings.SMS_TIMEOUT = 5
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()


def enqueue_sms() -> Message:
    return message_enqueue(
        channel="sms",
        to="080-2345-6789",
        template="verification_code",
        context={"code": "552901", "minutes": 30},
        reference="12",
    )


@pytest.mark.django_db
def test_an_sms_goes_to_the_provider_with_the_messages_key(sms_provider: StandInProvider) -> None:
    message = enqueue_sms()
    assert message_send(message_id=message.pk).status == "sent"
    [sms] = sms_provider.delivered
    assert sms["to"] == "+818023456789"
    assert sms["from"] == "REGIONPAY"
    assert "552901" in sms["text"]
    message.refresh_from_db()
    assert message.provider_id == sms_provider.by_key[str(message.key)] == "sm-1"


@pytest.mark.django_db
def test_a_repeated_sms_call_after_a_crash_delivers_once(sms_provider: StandInProvider) -> None:
    # The first sender's call reached the provider; it died before recording it. The row is
    # claimed again after its lease and sent with the same Idempotency-Key.
    message = enqueue_sms()
    assert message_send(message_id=message.pk).status == "sent"
    Message.objects.filter(pk=message.pk).update(
        status="sending", sent_at=None, lease_until="2000-01-01T00:00:00Z", provider_id=""
    )
    assert message_send(message_id=message.pk).status == "sent"
    assert sms_provider.requests == 2
    assert len(sms_provider.delivered) == 1
    message.refresh_from_db()
    assert (message.provider_id, message.attempts) == ("sm-1", 2)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [429, 503])
def test_sms_rate_limits_and_outages_are_retried(sms_provider: StandInProvider, status: int) -> None:
    sms_provider.fail_with = [status]
    message = enqueue_sms()
    assert message_send(message_id=message.pk).status == "retry"
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("pending", f"SMS provider HTTP {status}")
    assert sms_provider.delivered == []


@pytest.mark.django_db
def test_an_sms_the_provider_refuses_fails_without_retry(sms_provider: StandInProvider, settings) -> None:
    settings.SMS_API_KEY = "wrong"
    message = enqueue_sms()
    assert message_send(message_id=message.pk).status == "failed"
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "SMS provider refused: HTTP 401")


@pytest.mark.django_db
def test_sandbox_mode_is_answered_but_delivers_nothing(sms_provider: StandInProvider, settings) -> None:
    settings.SMS_SANDBOX = True
    message = enqueue_sms()
    assert message_send(message_id=message.pk).status == "sent"
    assert sms_provider.delivered == []
    message.refresh_from_db()
    assert message.provider_id == "sandbox-1"


def test_the_sms_adapter_itself_refuses_a_landline() -> None:
    from notifications.backends import Envelope, PermanentSendError
    from notifications.backends.sms import HttpSmsBackend

    adapter = HttpSmsBackend(api_url="http://127.0.0.1:9/", api_key="k", sender="S", sandbox=True, timeout=1)
    envelope = Envelope(
        message_id=1, key="k", channel="sms", to="0470-22-1234", subject="s", body="b", reference="r"
    )
    with pytest.raises(PermanentSendError, match="携帯電話"):
        adapter.send(envelope)
