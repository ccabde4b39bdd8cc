"""python manage.py notify_check --channel sms|email --to ADDRESS [--language ja|en]

Sends one short test message through the configured backend, the way every message goes (an
outbox row, sent by the worker), so an operator can check SMTP or the SMS provider after setting
them up. It waits for the worker and prints what became of the row.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from notifications.models import Message
from notifications.phones import NotAMobileNumber
from notifications.services import MessageInvalid, message_enqueue


class Command(BaseCommand):
    help = "Send one test message through the configured backend and report what happened."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--channel", choices=["sms", "email"], required=True)
        parser.add_argument("--to", required=True)
        parser.add_argument("--language", choices=["ja", "en"], default="ja")
        parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the worker")

    def handle(self, *args, channel: str, to: str, language: str, wait: float, **options) -> None:
        try:
            with transaction.atomic():
                message = message_enqueue(
                    channel=channel,
                    to=to,
                    template="connection_check",
                    context={},
                    reference="notify_check",
                    language=language,
                )
        except (NotAMobileNumber, MessageInvalid) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"message {message.pk} queued; waiting for the worker")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message.refresh_from_db()
            if message.status in {Message.Status.SENT, Message.Status.FAILED}:
                break
            time.sleep(0.5)
        self.stdout.write(
            f"message {message.pk}: {message.status}, attempts {message.attempts}, "
            f"provider id {message.provider_id or '-'}"
            + (f", last error: {message.last_error}" if message.last_error else "")
        )
        if message.status == Message.Status.FAILED:
            raise CommandError("the message failed; see the last error")
        if message.status != Message.Status.SENT:
            raise CommandError("not sent yet: is the worker running? (beat's sweep will send it later)")
