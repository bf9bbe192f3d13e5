"""What a send is asked to do: the request as parsed (what an Idempotency-Key compares) and
the per-request overrides of the service-wide send settings."""

from __future__ import annotations

import re

import msgspec

from otpservice.errors import InvalidRequest


class CreateRequest(msgspec.Struct, frozen=True):
    """A send request after parsing: what idempotency compares."""

    phone: str
    purpose: str = "login"
    locale: str = "en"
    client_ip: str | None = None
    # Caller-defined rate-limit keys, sorted by name: budgets configured for a key apply.
    rate_limit_keys: tuple[tuple[str, str], ...] = ()
    device_id: str | None = None


RATE_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_RATE_KEYS = 5


def rate_limit_keys(given: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    """A create's caller-defined rate-limit keys, checked and sorted by name."""
    if not given:
        return ()
    if len(given) > MAX_RATE_KEYS:
        raise InvalidRequest(f"rate_limit_keys: at most {MAX_RATE_KEYS} keys.")
    for name, value in given.items():
        if not RATE_KEY_NAME.match(name):
            raise InvalidRequest("rate_limit_keys: names are a-z, 0-9 and '_' (at most 32).")
        if not 1 <= len(value) <= 128 or not value.isprintable():
            raise InvalidRequest("rate_limit_keys: values are 1-128 printable characters.")
    return tuple(sorted(given.items()))


class SendOptions(msgspec.Struct, frozen=True):
    """Per-request overrides of the service-wide send settings (a Twilio surface service).

    ``None`` keeps the setting. With ``OTP_CODE_SOURCE=provider`` the code length must be
    4-6 (the configuration checks it).
    """

    code_length: int | None = None
    ttl_seconds: int | None = None
    template: str | None = None  # replaces OTP_TEMPLATE_<locale>; {code} and {minutes}
    app_hash: str | None = None  # replaces the client's app hash
    # Before the SMS goes out, record rid -> id so that the random part alone finds the
    # verification (the Twilio `VE` sid). Written before the send, never after it: a failed
    # send leaves at most a link to nothing, which answers not-found and expires by itself.
    link_rid: bool = False
    # Send pacing: OTP_RESEND_COOLDOWN_SECONDS, OTP_MAX_SENDS, OTP_LIMIT_PHONE_10M / _24H.
    resend_cooldown_seconds: int | None = None
    max_sends: int | None = None
    phone_10m: int | None = None
    phone_24h: int | None = None
