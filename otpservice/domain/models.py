"""The verification's state as an immutable value, and the identifiers that find it."""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
import secrets

import msgspec

from otpservice.errors import NotFoundReason, VerificationNotFound


class Status(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    CANCELED = "canceled"
    EXPIRED = "expired"
    MAX_ATTEMPTS_REACHED = "max_attempts_reached"


_ID = re.compile(r"[0-9a-f]{64}")  # fullmatch: "$" would let a trailing newline in


class VerificationRef(msgspec.Struct, frozen=True):
    """Where a verification lives. Its public id carries the phone's tag and the
    client+purpose slot beside 128 random bits, so a check by id needs no lookup."""

    tag: str  # keyed hash of the phone: the Redis hash tag (16 hex)
    slot: str  # hash of client+purpose+requester network (16 hex)
    rid: str  # 128 random bits (32 hex); "" = whichever is pending in the slot

    @property
    def id(self) -> str:
        return self.tag + self.slot + self.rid

    @classmethod
    def parse(cls, verification_id: str) -> VerificationRef:
        if not _ID.fullmatch(verification_id):
            raise VerificationNotFound()
        return cls(verification_id[:16], verification_id[16:32], verification_id[32:])


@functools.lru_cache(maxsize=4096)  # an HMAC per request was measurable under a flood
def phone_tag(secret: bytes, e164: str) -> str:
    """Keyed, so that Redis keys never reveal phone numbers."""
    return hmac.new(secret, b"phone\x1f" + e164.encode(), hashlib.sha256).hexdigest()[:16]


def slot_of(client: str, purpose: str, network: str) -> str:
    """One pending verification per client, purpose and requester network: a request from
    another network never resends, cools down or uses up the attempts of this one."""
    return hashlib.sha256(f"{client}\x1f{purpose}\x1f{network}".encode()).hexdigest()[:16]


def new_rid() -> str:
    return secrets.token_hex(16)


class Verification(msgspec.Struct, frozen=True):
    """A verification as the API shows it. Never holds the code."""

    id: str
    client: str
    phone: str  # E.164
    purpose: str
    locale: str
    status: Status
    created_at: float  # epoch seconds
    expires_at: float
    resend_available_at: float
    sends: int
    max_sends: int
    attempts_remaining: int
    sms_id: str
    test: bool

    def is_expired(self, now: float) -> bool:
        return self.expires_at <= now

    def is_redeemable(self, now: float) -> bool:
        return (
            self.status is Status.PENDING
            and not self.is_expired(now)
            and self.attempts_remaining > 0
        )

    def usable(self, now: float) -> Verification:
        """This verification if still pending, else the same not-found for every reason."""
        if self.status is not Status.PENDING:
            raise VerificationNotFound(NotFoundReason(self.status.value))
        if self.is_expired(now):
            raise VerificationNotFound(NotFoundReason.EXPIRED)
        return self


class CheckResult(msgspec.Struct, frozen=True):
    id: str
    status: Status
    valid: bool
    attempts_remaining: int
