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

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from notifications.backends import Envelope, PermanentSendError, TransientSendError
from notifications.phones import NotAMobileNumber, mobile_e164

# HTTP statuses worth trying again: timeout, too early, rate-limited, and the server's own trouble.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


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
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
            self.api_url,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                "Idempotency-Key": envelope.key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read().decode() or "{}")
        except urllib.error.HTTPError as exc:
            if exc.code in TRANSIENT_STATUSES:
                raise TransientSendError(f"SMS provider HTTP {exc.code}") from exc
            raise PermanentSendError(f"SMS provider refused: HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientSendError(f"SMS provider unreachable: {type(exc).__name__}") from exc
        except json.JSONDecodeError as exc:
            # Accepted (2xx) but unreadable: it was sent; the retry with the same key is answered
            # with the same message, so trying again is safe.
            raise TransientSendError("SMS provider answer unreadable") from exc
        provider_id = str(answer.get("id", ""))
        if not provider_id:
            raise TransientSendError("SMS provider answer without an id")
        return provider_id
