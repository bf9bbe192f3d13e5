"""Ports: what the domain needs from the outside, as protocols. Adapters implement them."""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec


class Lang(enum.Enum):
    """Message language. Values are our locale names."""

    EN = "en"
    TR = "tr"
    AR = "ar"


class SentSms(msgspec.Struct, frozen=True):
    """What the provider told us about an accepted message."""

    sms_id: str
    parts: int
    otp_code: str | None = None  # only for the provider's OTP endpoint; a secret


class DeliveryState(enum.Enum):
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    OUT_OF_COVERAGE = "out_of_coverage"
    PENDING = "pending"


class Delivery(msgspec.Struct, frozen=True):
    state: DeliveryState
    operator: str | None = None
    sent_at: str | None = None  # ISO 8601 as the provider reports it, when known
    provider_code: str | None = None


class Balance(msgspec.Struct, frozen=True):
    local_sms: int
    international_tl: float


class SmsGateway(Protocol):
    """The SMS provider, seen from the domain.

    ``msisdn`` is the number as digits without '+' (E.164 digits).
    Every method raises ``otpservice.errors.ProviderError`` subclasses on failure.
    """

    async def send_otp(self, msisdn: str, *, digits: int, lang: Lang) -> SentSms:
        """Let the provider generate and send a code; returns it in ``otp_code``."""
        ...

    async def send_sms(self, msisdn: str, text: str, *, lang: Lang) -> SentSms:
        """Send a text we composed."""
        ...

    async def delivery(self, sms_id: str) -> Delivery: ...

    async def balance(self) -> Balance: ...
