"""The SMS provider adapter: a JSON-over-HTTPS API with an idempotency key and a sandbox.

Request: ``POST SMS_API_URL`` with ``Authorization: Bearer SMS_API_KEY`` and
``Idempotency-Key: <message key>``, body ``{"to": "+8190...", "from": SMS_SENDER, "text": ...,
"sandbox": SMS_SANDBOX}``; a 2xx answer carries ``{"id": "..."}``. The provider keeps the key,
so sending one message twice (after a worker died between the call and the row update) is
answered with the first message's id instead of a second SMS. In sandbox mode the provider
accepts and answers as usual but delivers nothing: staging and demos use it.

Only mobile numbers (060/070/080/090) are accepted, here as well as at enqueue.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from config.http_json import post_json
from notifications.backends import Envelope, PermanentSendError, TransientSendError
from notifications.phones import NotAMobileNumber, mobile_e164

# HTTP statuses worth trying again: timeout, too early, rate-limited, and the server's own trouble.


@dataclass(frozen=True)
class HttpSmsBackend:
    api_url: str
    api_key: str
    sender: str
    sandbox: bool
    timeout: float

    @classmethod
    def from_settings(cls) -> HttpSmsBackend:
        if not settings.SMS_API_URL:
            raise PermanentSendError("SMS_API_URL is not set: no SMS provider configured")
        return cls(
            api_url=settings.SMS_API_URL,
            api_key=settings.SMS_API_KEY,
            sender=settings.SMS_SENDER,
            sandbox=settings.SMS_SANDBOX,
            timeout=settings.SMS_TIMEOUT,
        )

    def send(self, envelope: Envelope) -> str:
        try:
            to = mobile_e164(envelope.to)
        except NotAMobileNumber as exc:
            raise PermanentSendError(str(exc)) from exc
        payload = {"to": to, "from": self.sender, "text": envelope.body, "sandbox": self.sandbox}
        answer = post_json(
            self.api_url,
            payload,
            api_key=self.api_key,
            idempotency_key=envelope.key,
            timeout=self.timeout,
            party="SMS provider",
            transient=TransientSendError,
            permanent=PermanentSendError,
        )
        provider_id = str(answer["id"])
        return provider_id
