"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.

Secrets are `whsec_<base64 key>`; several signatures may be sent (space-separated) so that secrets
can be rotated without downtime. Verification is constant-time per candidate and checks the
timestamp against a tolerance (5 minutes by default), both ways.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

TOLERANCE_SECONDS = 300
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,255}", re.ASCII)  # kept for replay protection: bounded
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of the format, not a secret


class SignatureError(ValueError):
    """Why a webhook was not accepted (missing headers, stale timestamp, no matching signature)."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (base64 after the prefix); other secrets are used as bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            return encoded.encode()
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers for one delivery, signed with every given secret (the newest first)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in secrets),
    }


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a signed webhook; returns its message id, raises SignatureError otherwise."""
    message_id = headers.get("webhook-id", "")
    timestamp_text = headers.get("webhook-timestamp", "")
    presented = headers.get("webhook-signature", "")
    if not message_id or not timestamp_text or not presented:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise SignatureError("webhook-id must be 1-255 visible ASCII characters")
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise SignatureError("webhook-timestamp is not a unix time in seconds")
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance (stale or from the future)")
    candidates = [part for part in presented.split(" ") if part.startswith("v1,")]
    expected = [signature(secret, message_id, timestamp, body) for secret in secrets if secret]
    matched = False
    for candidate in candidates:
        for wanted in expected:
            # No early exit: every pair is compared, in constant time each.
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    if not matched:
        raise SignatureError("no valid signature")
    return message_id
