"""The key schema. One hash tag per phone ({<tag>}) and one for shared budgets ({g}),
so that every script's keys sit in one Redis Cluster slot.

Per-phone keys are short (the tag in 11 base64 characters, the slot in 8): a key name is its
own allocation, and under 29 characters it takes the allocator's 32-byte class, not 48."""

from __future__ import annotations

import base64
import hashlib

from otpservice.domain.models import VerificationRef

ROOT = "otp"


def _compact(hex_digits: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digits)).rstrip(b"=").decode()


def phone_keys(tag: str) -> str:
    return f"{ROOT}:{{{_compact(tag)}}}"


def _slot(ref: VerificationRef) -> str:
    # 48 of the slot's 64 bits: enough to keep one phone's few client+purpose pairs apart.
    return _compact(ref.slot[:12])


def verification(ref: VerificationRef) -> str:
    return f"{phone_keys(ref.tag)}:v:{_slot(ref)}"


def send_lock(ref: VerificationRef) -> str:
    return f"{phone_keys(ref.tag)}:l:{_slot(ref)}"


def send_log(tag: str) -> str:
    return f"{phone_keys(tag)}:s"


def failure_streak(tag: str, net: str) -> str:
    return f"{phone_keys(tag)}:f:{net}"


def failures_day(tag: str) -> str:
    return f"{phone_keys(tag)}:fd"


def rid_link(rid: str) -> str:
    """rid -> verification id, for ids that carry only the random part (Twilio `VE` sids).
    Its own hash tag: it is written and read alone, never inside a script."""
    return f"{ROOT}:{{r:{rid}}}"


SHARED = f"{ROOT}:{{g}}"


def idempotency(client: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{SHARED}:i:{client}:{digest}"


def prefix_block(prefix: str) -> str:
    return f"{SHARED}:pb:{prefix}"


def prefix_numbers(prefix: str) -> str:
    return f"{SHARED}:pn:{prefix}"


def budget(policy: str, subject: str) -> str:
    return f"{SHARED}:b:{policy}:{subject}"


# An unused placeholder under the shared tag, for scripts called without idempotency.
NO_IDEMPOTENCY = f"{SHARED}:i:-"
