"""Where messages leave: one small interface, one adapter per way out, chosen by ``NOTIFY_BACKEND``.

``file``  (default of ``make run`` and the tests) writes each message as one JSON file under
          ``NOTIFY_OUTBOX_DIR`` (``$PORTAL_DATA_DIR/outbox/``), the contract's shape.
``live``  e-mail through Django's e-mail backend (SMTP by default, ``EMAIL_*`` settings), SMS
          through the HTTP provider adapter (``SMS_*`` settings; ``SMS_SANDBOX`` for its sandbox).
A dotted path names any class with the same ``send`` (the worker tests use one).

A backend raises ``TransientSendError`` for a failure worth trying again (the relay backs off and
retries) and ``PermanentSendError`` for one that will not get better (the row is marked failed).
Anything else it raises is treated as permanent: only named transient errors are retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Envelope:
    """One message as a backend sees it; ``key`` is the same for every attempt of one message."""

    message_id: int
    key: str
    channel: str
    to: str
    subject: str
    body: str
    reference: str


class SendError(Exception):
    pass


class TransientSendError(SendError):
    """The provider may accept this later: a timeout, a dropped connection, 4xx SMTP, 429/5xx HTTP."""


class PermanentSendError(SendError):
    """The provider will never accept this message as it is."""


class Backend(Protocol):
    def send(self, envelope: Envelope) -> str:
        """Hand the message over; return the provider's id for it. Same key, same message."""
        ...


def get_backend(channel: str) -> Backend:
    name = settings.NOTIFY_BACKEND
    if name == "file":
        from notifications.backends.file import FileBackend

        return FileBackend(settings.NOTIFY_OUTBOX_DIR)
    if name == "live":
        if channel == "email":
            from notifications.backends.smtp import DjangoEmailBackend

            return DjangoEmailBackend()
        from notifications.backends.sms import HttpSmsBackend

        return HttpSmsBackend.from_settings()
    backend_class = import_string(name)
    backend: Backend = backend_class()
    return backend
