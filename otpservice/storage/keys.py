"""The key schema. One hash tag per phone ({p:<tag>}) and one for shared budgets ({g}),
so that every script's keys sit in one Redis Cluster slot."""

from __future__ import annotations

import hashlib

from otpservice.domain.models import VerificationRef

ROOT = "otp"


def phone_keys(tag: str) -> str:
    return f"{ROOT}:{{p:{tag}}}"


def verification(ref: VerificationRef) -> str:
    return f"{phone_keys(ref.tag)}:v:{ref.slot}"


def send_lock(ref: VerificationRef) -> str:
    return f"{phone_keys(ref.tag)}:l:{ref.slot}"


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
