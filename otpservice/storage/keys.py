"""The key schema. Per-phone keys sit under one of 16 partition hash tags ({p0}..{p15}),
chosen by the phone's keyed tag, and shared budgets under {g}: every script's keys share one
Redis Cluster slot, and each partition's event stream (otp:{pN}:ev) sits beside the
verifications whose changes it records, so a script writes the change and its event at once.

Per-phone keys are short (the tag in 11 base64 characters, the slot in 8): 29-32 characters."""

from __future__ import annotations

import base64
import hashlib

from otpservice.domain.models import VerificationRef

ROOT = "otp"


def _compact(hex_digits: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digits)).rstrip(b"=").decode()


PARTITIONS = 16


def partition_of(tag: str) -> int:
    """The partition of a phone's keyed tag (16 hex): a stable function of the tag alone."""
    return int(tag[:4], 16) % PARTITIONS


def partition_tag(part: int | str) -> str:
    """``{p7}`` for a partition number, ``{g}`` for the shared one."""
    return "{g}" if part == "g" else f"{{p{part}}}"


def event_stream(part: int | str) -> str:
    """The event stream of a partition (0..15), or of the shared keys ("g")."""
    return f"{ROOT}:{partition_tag(part)}:ev"


def phone_keys(tag: str) -> str:
    return f"{ROOT}:{partition_tag(partition_of(tag))}:{_compact(tag)}"


def phone_events(tag: str) -> str:
    """The stream that records the changes of this phone's verifications."""
    return event_stream(partition_of(tag))


def _slot(ref: VerificationRef) -> str:
    # 48 of the slot's 64 bits: enough to keep one phone's few client+purpose pairs apart.
    return _compact(ref.slot[:12])


def verification(ref: VerificationRef) -> str:
    return f"{phone_keys(ref.tag)}:v:{_slot(ref)}"


def send_lock(ref: VerificationRef) -> str:
    return f"{phone_keys(ref.tag)}:l:{_slot(ref)}"


def undelivered(ref: VerificationRef) -> str:
    """The message id of this slot's last SMS when a delivery report said it did not arrive
    ("!" once a resend used it to skip the cooldown)."""
    return f"{phone_keys(ref.tag)}:u:{_slot(ref)}"


def send_log(tag: str) -> str:
    return f"{phone_keys(tag)}:s"


def failure_streak(tag: str, net: str) -> str:
    return f"{phone_keys(tag)}:f:{net}"


def failures_day(tag: str) -> str:
    return f"{phone_keys(tag)}:fd"


def trusted(tag: str) -> str:
    """The network and device that last approved on the phone: they keep a reserved share."""
    return f"{phone_keys(tag)}:t"


def rid_link(rid: str) -> str:
    """rid -> verification id, for ids that carry only the random part (Twilio `VE` sids).
    Its own hash tag: it is written and read alone, never inside a script."""
    return f"{ROOT}:{{r:{rid}}}"


SHARED = f"{ROOT}:{{g}}"
SHARED_EVENTS = event_stream("g")


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


# -- the fraud guard (all under the shared tag: the send's shared step reads them) ------


def guard_prefix(kind: str, prefix: str) -> str:
    """kind: "b" block, "k" strikes, "s" unconverted numbers, "a" approved, "m" would-be."""
    return f"{SHARED}:gp{kind}:{prefix}"


def guard_country(kind: str, country: str) -> str:
    """kind: "b" block, "k" strikes, "s" unconverted numbers, "a" approved, "x" alert flag."""
    return f"{SHARED}:gc{kind}:{country}"


def returning(tag: str) -> str:
    """Set at an approval: the number is a returning customer for a while."""
    return f"{SHARED}:rt:{_compact(tag)}"


GUARD_BUDGET_ALERTS = f"{SHARED}:ga"
GUARD_BLOCKS = f"{SHARED}:gb"
POLICY = f"{SHARED}:pol"
POLICY_VERSION = f"{SHARED}:polv"


def rate_key_budget(name: str, period: int, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"{SHARED}:rk:{name}:{period}:{digest}"


# -- the event log's bookkeeping, per partition (0..15) or shared ("g") ---------------------


def expiry_index(part: int) -> str:
    """ZSET of a partition's verifications by expiry (member: tag + slot, 16 bytes)."""
    return f"{ROOT}:{partition_tag(part)}:exp"


def stats_day(part: int, day: str) -> str:
    """HASH of a partition's counters for one UTC day (YYYYMMDD), folded from its stream:
    fields ``hour|metric|client|country|prefix``."""
    return f"{ROOT}:{partition_tag(part)}:st:{day}"


def stats_cursor(part: int) -> str:
    """The last entry of the partition's stream folded into its counters."""
    return f"{ROOT}:{partition_tag(part)}:stc"


def refusals_day(part: int | str, day: str) -> str:
    """HASH of refused requests for one UTC day: fields ``minute|client|policy|country``."""
    return f"{ROOT}:{partition_tag(part)}:rf:{day}"
