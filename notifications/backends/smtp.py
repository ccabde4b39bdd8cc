"""E-mail through Django's e-mail backend (``EMAIL_BACKEND``, SMTP by default; ``EMAIL_*`` settings)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from notifications.backends import Envelope, PermanentSendError, TransientSendError


def _is_transient_code(code: int) -> bool:
    return 400 <= code < 500


class DjangoEmailBackend:
    """SMTP has no idempotency key: the Message-ID is the message's key, so a repeat is recognisable."""

    def send(self, envelope: Envelope) -> str:
        domain = settings.NOTIFY_MESSAGE_ID_DOMAIN
        message_id = f"<{envelope.key}@{domain}>"
        email = EmailMessage(
            subject=envelope.subject,
            body=envelope.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[envelope.to],
            headers={"Message-ID": message_id},
        )
        try:
            connection = get_connection(fail_silently=False)
            sent = connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(_is_transient_code(code) for code in codes):
                raise TransientSendError(f"recipient deferred (SMTP {codes[0]})") from exc
            raise PermanentSendError(f"recipient refused (SMTP {codes[0] if codes else '?'})") from exc
        except smtplib.SMTPResponseException as exc:
            if _is_transient_code(exc.smtp_code):
                raise TransientSendError(f"SMTP {exc.smtp_code}") from exc
            raise PermanentSendError(f"SMTP {exc.smtp_code}") from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            raise TransientSendError(f"SMTP connection: {type(exc).__name__}") from exc
        except (TimeoutError, ConnectionError) as exc:
            raise TransientSendError(f"SMTP connection: {type(exc).__name__}") from exc
        except OSError as exc:  # DNS failure, unreachable network
            raise TransientSendError(f"SMTP connection: {type(exc).__name__}") from exc
        if sent != 1:
            raise TransientSendError("the e-mail backend accepted no message")
        return message_id
