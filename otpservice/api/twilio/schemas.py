"""Response bodies with Twilio Verify v2's field names and types."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from otpservice.api.schemas import iso
from otpservice.domain.models import Verification, VerificationRef
from otpservice.twilio_config import TwilioService


class SendCodeAttempt(msgspec.Struct, frozen=True):
    attempt_sid: str
    channel: str
    time: str


class VerificationBody(msgspec.Struct, frozen=True):
    """A Verification resource."""

    sid: str
    service_sid: str
    account_sid: str
    to: str
    channel: str
    status: str
    valid: bool
    lookup: dict[str, Any]
    amount: str | None
    payee: str | None
    send_code_attempts: list[SendCodeAttempt]
    date_created: str
    date_updated: str
    sna: dict[str, Any] | None
    url: str


class VerificationCheckBody(msgspec.Struct, frozen=True):
    """A VerificationCheck resource."""

    sid: str
    service_sid: str
    account_sid: str
    to: str
    channel: str
    status: str
    valid: bool
    amount: str | None
    payee: str | None
    date_created: str
    date_updated: str
    sna_attempts_error_codes: list[dict[str, Any]]


def sid_of(verification: Verification) -> str:
    """The `VE` sid: the verification's 128 random bits (DECISIONS 11)."""
    return "VE" + VerificationRef.parse(verification.id).rid


def last_sent(verification: Verification, service: TwilioService) -> float:
    return max(verification.created_at, verification.expires_at - service.ttl_seconds)


def verification_body(
    verification: Verification,
    service: TwilioService,
    *,
    base_url: str,
    status: str = "pending",
    updated: float | None = None,
) -> VerificationBody:
    sid = sid_of(verification)
    latest = iso(last_sent(verification, service))
    # One entry per SMS sent. Only the first and the latest send times are kept, so
    # resends in between carry the latest time.
    attempts = [
        SendCodeAttempt(
            attempt_sid="VL" + hashlib.sha256(f"{sid}:{n}".encode()).hexdigest()[:32],
            channel="sms",
            time=iso(verification.created_at) if n == 0 else latest,
        )
        for n in range(verification.sends)
    ]
    return VerificationBody(
        sid=sid,
        service_sid=service.sid,
        account_sid=service.account,
        to=verification.phone,
        channel="sms",
        status=status,
        valid=status == "approved",
        lookup={},
        amount=None,
        payee=None,
        send_code_attempts=attempts,
        date_created=iso(verification.created_at),
        date_updated=iso(updated) if updated is not None else latest,
        sna=None,
        url=f"{base_url}/v2/Services/{service.sid}/Verifications/{sid}",
    )


def check_body(
    verification: Verification,
    service: TwilioService,
    *,
    status: str,
    valid: bool,
    updated: float,
) -> VerificationCheckBody:
    return VerificationCheckBody(
        sid=sid_of(verification),
        service_sid=service.sid,
        account_sid=service.account,
        to=verification.phone,
        channel="sms",
        status=status,
        valid=valid,
        amount=None,
        payee=None,
        date_created=iso(verification.created_at),
        date_updated=iso(updated),
        sna_attempts_error_codes=[],
    )
