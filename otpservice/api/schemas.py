"""Request and response bodies of /v1. Field descriptions feed the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from otpservice.domain.models import CheckResult, Verification
from otpservice.domain.phone import mask_e164

PhoneInput = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=32,
        description="The phone number: E.164 or as typed in the default region.",
        examples=["+905321234567"],
    ),
]
Purpose = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9_.-]{1,32}$",
        description="What the code is for; one pending verification per phone and purpose.",
        examples=["login"],
    ),
]
Code = Annotated[
    str,
    Meta(
        min_length=1, max_length=16, description="The code the person typed.", examples=["123456"]
    ),
]
ClientIp = Annotated[
    str,
    Meta(
        min_length=2,
        max_length=45,
        description="The end user's IP address, for per-IP limits, the per-number shares and "
        "check delays (kept per /24, IPv6 /48). Pass it on checks too: a check by phone finds "
        "the verification asked for from the same network.",
        examples=["203.0.113.7"],
    ),
]
DeviceId = Annotated[
    str,
    Meta(
        pattern=r"^[\x21-\x7e]{1,128}$",
        description="A stable id of the end user's device (e.g. a cookie you set): the device "
        "that last approved on a number keeps a reserved share of its limits.",
        examples=["d-7f3a9c2e"],
    ),
]
Locale = Literal["en", "tr", "ar"]
RateLimitKeys = Annotated[
    dict[str, str],
    Meta(
        description="Caller-defined rate-limit keys, name -> value (e.g. a user id), at most "
        "5; names are a-z, 0-9 and '_' (at most 32), values 1-128 characters. Budgets "
        "configured for a name in OTP_RATE_LIMIT_KEYS apply per value; other names are "
        "ignored. Anything else answers 422 invalid_request.",
        examples=[{"user_id": "42"}],
    ),
]


class CreateVerification(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Send a code to a phone (or resend one for a pending verification)."""

    phone: PhoneInput
    purpose: Purpose = "login"
    locale: Annotated[Locale, Meta(description="Language of the SMS.")] = "en"
    client_ip: ClientIp | None = None
    rate_limit_keys: RateLimitKeys | None = None
    device_id: DeviceId | None = None


class CheckCode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Check the code the person typed."""

    code: Code
    client_ip: ClientIp | None = None
    device_id: DeviceId | None = None


class CheckByPhone(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Check a code, finding the pending verification by phone and purpose."""

    phone: PhoneInput
    code: Code
    purpose: Purpose = "login"
    client_ip: ClientIp | None = None
    device_id: DeviceId | None = None


def iso(ts: float) -> str:
    """A time to the second, truncated: right for past times and for "until" times."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_not_before(ts: float) -> str:
    """A "from then on you may" time, rounded up to the second: a client that waits until
    the stated second is never early."""
    return iso(math.ceil(ts))


class VerificationOut(msgspec.Struct, frozen=True):
    """A verification. Never contains the code."""

    id: Annotated[str, Meta(description="Unguessable id (256 bits of hex, 128 of them random).")]
    phone: Annotated[str, Meta(description="E.164, masked.", examples=["+90532123****"])]
    purpose: Annotated[str, Meta(description="What the code is for.")]
    status: Annotated[Literal["pending"], Meta(description="Always pending while visible.")]
    channel: Annotated[Literal["sms"], Meta(description="Delivery channel.")]
    locale: Annotated[str, Meta(description="Language of the SMS.")]
    created_at: Annotated[str, Meta(description="When it was created (UTC, ISO 8601).")]
    expires_at: Annotated[str, Meta(description="When the current code stops working.")]
    resend_available_at: Annotated[
        str, Meta(description="Earliest time for a resend, rounded up to the second.")
    ]
    sends: Annotated[int, Meta(description="Codes sent so far for this verification.")]
    max_sends: Annotated[int, Meta(description="Most codes one verification may send.")]
    attempts_remaining: Annotated[int, Meta(description="Checks left before it is spent.")]

    @classmethod
    def of(cls, v: Verification) -> VerificationOut:
        return cls(
            id=v.id,
            phone=mask_e164(v.phone),
            purpose=v.purpose,
            status="pending",
            channel="sms",
            locale=v.locale,
            created_at=iso(v.created_at),
            expires_at=iso(v.expires_at),
            resend_available_at=iso_not_before(v.resend_available_at),
            sends=v.sends,
            max_sends=v.max_sends,
            attempts_remaining=v.attempts_remaining,
        )


class CheckOut(msgspec.Struct, frozen=True):
    """The result of a check."""

    id: Annotated[str, Meta(description="The verification's id.")]
    status: Annotated[
        Literal["pending", "approved", "max_attempts_reached"],
        Meta(description="approved on the right code; max_attempts_reached after the last miss."),
    ]
    valid: Annotated[bool, Meta(description="Whether the code was right.")]
    attempts_remaining: Annotated[int, Meta(description="Checks left.")]

    @classmethod
    def of(cls, r: CheckResult) -> CheckOut:
        status = r.status.value
        if status not in ("pending", "approved", "max_attempts_reached"):
            status = "pending"
        return cls(id=r.id, status=status, valid=r.valid, attempts_remaining=r.attempts_remaining)  # type: ignore[arg-type]


class DeliveryOut(msgspec.Struct, frozen=True):
    """The provider's delivery status for the last SMS of a verification."""

    id: Annotated[str, Meta(description="The verification's id.")]
    state: Annotated[
        Literal["delivered", "not_delivered", "out_of_coverage", "pending", "test_number"],
        Meta(description="Delivery outcome as the provider reports it."),
    ]
    operator: Annotated[str | None, Meta(description="The recipient's mobile operator.")] = None
    sent_at: Annotated[str | None, Meta(description="When the provider sent it.")] = None
    provider_code: Annotated[str | None, Meta(description="The provider's status code.")] = None


class BalanceOut(msgspec.Struct, frozen=True):
    """The provider account's balance."""

    local_sms: Annotated[int, Meta(description="Messages left for Turkish numbers.")]
    international_tl: Annotated[float, Meta(description="International balance in lira.")]


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem."""

    type: Annotated[str, Meta(description="URI naming the problem type.")]
    title: Annotated[str, Meta(description="Short summary of the problem type.")]
    status: Annotated[int, Meta(description="HTTP status.")]
    detail: Annotated[str, Meta(description="What went wrong here.")]
    code: Annotated[str, Meta(description="Stable machine-readable code.")]
    policy: Annotated[str | None, Meta(description="The throttling policy that refused.")] = None
    retry_after: Annotated[int | None, Meta(description="Seconds to wait (429, 503).")] = None
