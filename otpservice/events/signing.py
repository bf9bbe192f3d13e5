"""Standard Webhooks signing, for webhooks and for the HTTP send hook (CONTRACT.md 5).

The `standardwebhooks` package signs, so receivers' published verifiers accept what we send
unchanged: ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed by
the bytes of a ``whsec_<base64>`` secret.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MIN_SECRET_BYTES = 24  # the spec asks for 24 to 64 random bytes
MAX_SECRET_BYTES = 64


def is_valid_secret(secret: str) -> bool:
    """``whsec_`` and the base64 of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    encoded = secret[len(SECRET_PREFIX) :]
    try:  # padded or not, as the package accepts both
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(
    secret: str, msg_id: str, timestamp: int | float | datetime | None, body: str | bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt to send ``body``.

    ``timestamp``: when the attempt is made (Unix seconds or a datetime; None = now); each
    retry is signed afresh so receivers' replay windows accept it.
    """
    if timestamp is None:
        timestamp = time.time()
    if not isinstance(timestamp, datetime):
        timestamp = datetime.fromtimestamp(int(timestamp), tz=UTC)
    payload = body.decode() if isinstance(body, bytes) else body
    signature = Webhook(secret).sign(msg_id, timestamp, payload)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
