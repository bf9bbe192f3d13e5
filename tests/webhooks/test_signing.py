"""Signing: what we send is accepted, unchanged, by the published Standard Webhooks verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from otpservice.events.signing import is_valid_secret, new_secret, sign


def test_a_signed_message_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    body = json.dumps({"type": "verification.approved", "timestamp": "t", "data": {}})
    headers = sign(secret, "evt_7_1764630000000-0", time.time(), body)
    assert headers["webhook-id"] == "evt_7_1764630000000-0"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    secret = new_secret()
    headers = sign(secret, "evt_g_1-0", None, b'{"a": 1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a": 2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify('{"a": 1}', headers)


def test_the_signature_is_the_spec_s_hmac_of_id_timestamp_body() -> None:
    raw = bytes(range(32))
    secret = "whsec_" + base64.b64encode(raw).decode()
    headers = sign(secret, "msg_1", 1_700_000_000, "{}")
    expected = hmac.new(raw, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


@pytest.mark.parametrize(
    ("secret", "valid"),
    [
        (new_secret(), True),
        (new_secret().rstrip("="), True),  # unpadded base64 is accepted by the verifiers too
        ("whsec_" + base64.b64encode(b"short").decode(), False),
        (base64.b64encode(bytes(32)).decode(), False),  # no whsec_ prefix
        ("whsec_not*base64!", False),
    ],
)
def test_secret_shape(secret: str, valid: bool) -> None:
    assert is_valid_secret(secret) is valid
