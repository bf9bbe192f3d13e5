"""Ports: what the domain needs from the outside, as protocols. Adapters implement them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import msgspec

from otpservice.domain.models import Status, Verification, VerificationRef
from otpservice.domain.requester import Requester


class Lang(enum.Enum):
    """Message language. Values are our locale names."""

    EN = "en"
    TR = "tr"
    AR = "ar"


class SentSms(msgspec.Struct, frozen=True):
    """What the provider told us about an accepted message.

    From ``SmsGateway.send_code``: ``otp_code`` is the code that went out (ours or the
    provider's), the only one whose hash may be stored. A secret."""

    sms_id: str
    parts: int
    otp_code: str | None = None


@dataclass(frozen=True, slots=True)
class CodeMessage:
    """One code to get to a phone. The gateway decides who makes it: it sends ``text``
    (which holds ``local_code``) where it sends our own text, or lets a provider generate
    a ``digits``-long code and send its own text; ``SentSms.otp_code`` says which went out.
    """

    digits: int
    lang: Lang
    local_code: str = field(repr=False)  # a secret
    text: str = field(repr=False)  # holds the code: a secret
    verification_id: str
    country: str  # ISO region of the number, for routing
    # The previous SMS of this verification, which a delivery report said did not arrive:
    # the gateway may send this one another way.
    undelivered_sms_id: str | None = None


class DeliveryState(enum.Enum):
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    OUT_OF_COVERAGE = "out_of_coverage"
    PENDING = "pending"
    TEST = "test_number"  # a configured test number: nothing was sent


class Delivery(msgspec.Struct, frozen=True):
    state: DeliveryState
    operator: str | None = None
    sent_at: str | None = None  # ISO 8601 as the provider reports it, when known
    provider_code: str | None = None


class Balance(msgspec.Struct, frozen=True):
    local_sms: int
    international_tl: float


class SmsGateway(Protocol):
    """The way codes reach phones, seen from the domain (one provider or several).

    ``msisdn`` is the number as digits without '+' (E.164 digits).
    Every method raises ``otpservice.errors.ProviderError`` subclasses on failure.
    """

    async def send_code(self, msisdn: str, message: CodeMessage) -> SentSms:
        """Get one code to the phone; ``otp_code`` of the answer is the code that went out."""
        ...

    async def delivery(self, sms_id: str) -> Delivery: ...

    async def balance(self) -> Balance: ...


class DeliveryReports(Protocol):
    """Delivery states the service tracks (events/delivery.py), read without a provider call."""

    async def report(self, tag: str, sms_id: str) -> Delivery | None:
        """The tracked state of a message (``tag``: its phone's keyed tag), or None."""
        ...


class SendTarget(msgspec.Struct, frozen=True):
    """Everything the send scripts need to find and throttle a send."""

    client: str
    e164: str
    tag: str
    slot: str
    purpose: str
    locale: str
    country: str
    prefix: str
    ip: str | None  # end-user address, normalised (requester.ip)
    ip_net: str | None  # its /24 (IPv4) or /64 (IPv6) (requester.net)
    exempt: bool  # test numbers skip the shared budgets and have their own small one
    requester: Requester = Requester()  # the end user's address, networks and device
    masked: str = ""  # the masked number, for events
    rate_keys: tuple[tuple[str, str], ...] = ()  # caller-defined rate-limit keys (name, value)


class SendFailure(msgspec.Struct, frozen=True):
    """A send the provider did not take, for its send.failed event."""

    verification_id: str  # the id the verification has (resend) or would have had (new)
    mode: str  # new | resend
    error: str  # our problem code
    result_code: str | None  # the provider's TS- code, when it gave one
    may_have_sent: bool


class SendPacing(msgspec.Struct, frozen=True):
    """How often one phone may get codes: the settings, or a Twilio surface service's own."""

    resend_cooldown_seconds: int  # the first wait; it doubles after each resend
    max_sends: int  # codes per verification
    phone_10m: int  # sends per phone in 10 minutes, all purposes (0 = off)
    phone_24h: int  # sends per phone in 24 hours (0 = off)


class SharedVerdict(msgspec.Struct, frozen=True):
    """Outcome of the shared step: ok | replay | in_progress | conflict | limited."""

    kind: str
    body: bytes | None = None
    policy: str | None = None
    retry_after: float = 0.0
    blocked_now: bool = False
    added_member: bool = False
    guard_added: bool = False  # the number joined the guard's unconverted numbers
    flag: str = ""  # what the guard or a budget noted (shared_reserve.lua's reply flag)


class PhoneVerdict(msgspec.Struct, frozen=True):
    """Outcome of the per-phone step: new | resend | limited."""

    kind: str
    rid: str = ""
    sends: int = 0
    policy: str | None = None
    retry_after: float = 0.0
    # A resend whose previous SMS a delivery report said did not arrive: its message id.
    undelivered_sms_id: str = ""


class Attempt(msgspec.Struct, frozen=True):
    """A reserved check attempt: the stored hashes to verify against."""

    rid: str
    code_hash: str
    attempts_left: int
    purpose: str
    token: str
    # After a resend (OTP_ACCEPT_PREVIOUS_CODE): the code before it, while it is still valid.
    previous_hash: str | None = None
    phone: str = ""  # the verification's number (E.164): a right code converts it


class ScriptCall(NamedTuple):
    """A write that another part of the state (the guard's conversions) hands to the store to
    make beside one of its own, in the same round trip where the topology allows: a script
    of the store's set, its keys (under one hash tag) and arguments. Opaque to the domain."""

    script: str
    keys: list[str]
    args: list[str | int]


class VerificationStore(Protocol):
    """All state, atomically. Each method is one script, or one read."""

    async def reserve_shared(
        self, target: SendTarget, idempotency: tuple[str, str] | None
    ) -> SharedVerdict: ...

    async def refund_shared(
        self,
        target: SendTarget,
        idempotency: tuple[str, str] | None,
        *,
        refund_budgets: bool,
        remove_member: bool,
        remove_guard_member: bool = False,
    ) -> None: ...

    async def store_idempotent(
        self, target: SendTarget, idempotency: tuple[str, str], body: bytes
    ) -> None: ...

    async def reserve_phone(
        self, target: SendTarget, token: str, lock_seconds: float, pacing: SendPacing | None = None
    ) -> PhoneVerdict: ...

    async def release_phone(
        self, target: SendTarget, token: str, *, refund: bool, failure: SendFailure | None = None
    ) -> None:
        """Drop the send lock; with ``failure``, record the failed send in the same step."""
        ...

    async def commit_send(
        self,
        target: SendTarget,
        token: str,
        *,
        mode: str,
        rid: str,
        code_hash: str,
        sms_id: str,
        ttl_seconds: int | None = None,
        parts: int = 0,
        pacing: SendPacing | None = None,
    ) -> Verification | None: ...

    async def link_rid(self, rid: str, verification_id: str, ttl_seconds: float) -> None:
        """Let the random part alone find the verification (plain write, its own key)."""
        ...

    async def resolve_rid(self, rid: str) -> str | None: ...

    async def load(self, ref: VerificationRef) -> Verification | None: ...

    async def reserve_attempt(
        self, ref: VerificationRef, client: str, who: Requester, token: str
    ) -> Attempt: ...

    async def approve(
        self,
        ref: VerificationRef,
        who: Requester,
        attempt: Attempt,
        matched_hash: str,
        beside: ScriptCall | None = None,
    ) -> tuple[int, bool | None]:
        """Approve if ``matched_hash`` (the attempt's current or previous hash) still holds;
        returns the attempts left and whether ``beside`` was written (None: none given). The
        write beside is made whatever the approval's outcome, and its failure never fails
        the approval."""
        ...

    async def reject(self, ref: VerificationRef, attempt: Attempt) -> Status: ...

    async def set_status(self, ref: VerificationRef, client: str, status: Status) -> None: ...

    async def ping(self) -> bool: ...


class ConversionCounter(Protocol):
    """The fraud guard's side of an approval: the number converted (guard/store.py)."""

    def approval_write(self, tag: str, country: str, prefix: str) -> ScriptCall:
        """The write that records it, for the store to make beside the approval."""
        ...


class RefusalCounter(Protocol):
    """Refusals the domain decides before any store call, counted beside the store's own
    (events/refusals.py). Never waits and never raises: the refusal is answered at once."""

    def note(self, client: str, policy: str, country: str) -> None: ...
