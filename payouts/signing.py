"""The gift vendor's webhook signature: HMAC-SHA256 over ``<timestamp>.<body>``, hex.

No Django here: the sandbox vendor (``python -m payouts.sandbox_vendor``) signs with it too.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Vendor-Signature"
TIMESTAMP_HEADER = "X-Vendor-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, timestamp, body), signature or "")
