"""One JSON POST to a party we call over HTTP (the SMS provider, the gift vendor), with the
failures sorted the way every caller retries them: a named transient failure (a timeout, an
unreachable host, 408/425/429/5xx, an answer that cannot be read) may be asked again with the same
idempotency key; anything else is a refusal."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    api_key: str,
    idempotency_key: str,
    timeout: float,
    party: str,
    transient: type[Exception],
    permanent: type[Exception],
) -> dict[str, Any]:
    """POST ``payload``; the answer, which carries a non-empty ``id``. Raises ``transient`` or
    ``permanent`` (each with a sentence naming ``party``)."""
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read().decode() or "{}")
    except urllib.error.HTTPError as exc:
        if exc.code in TRANSIENT_STATUSES:
            raise transient(f"{party} HTTP {exc.code}") from exc
        raise permanent(f"{party} refused: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise transient(f"{party} unreachable: {type(exc).__name__}") from exc
    except json.JSONDecodeError as exc:
        # Accepted (2xx) but unreadable: asking again with the same key is answered the same way.
        raise transient(f"{party} answer unreadable") from exc
    if not isinstance(answer, dict) or not str(answer.get("id", "")):
        raise transient(f"{party} answer without an id")
    return answer
