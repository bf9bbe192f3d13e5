"""The service's exception tree. Each error carries a stable machine ``code``.

OtpError
├── InvalidRequest            bad input the caller can fix            (invalid_request)
│   ├── InvalidPhone          not a valid mobile number               (invalid_phone)
│   │   └── NotMobile         a valid number that takes no SMS (landline) (invalid_phone)
│   ├── InvalidCode           code not of the configured shape        (invalid_code)
│   └── InvalidPolicy         a runtime policy change the env would refuse (invalid_policy)
├── Unauthorized              missing or unknown client key           (unauthorized)
├── Forbidden                 key lacks the scope                     (forbidden)
│   └── CsrfFailed            console form without its session's token (csrf_failed)
├── CountryNotAllowed         destination country not allowed         (country_not_allowed)
├── PrefixDenied              number prefix on the deny list          (prefix_denied)
├── VerificationNotFound      not pending any more, or never was       (verification_not_found)
├── WebhookNotFound           no such webhook endpoint                (webhook_not_found)
├── DeadLetterNotFound        no such dead letter at that endpoint    (dead_letter_not_found)
├── BlockNotFound             no such active fraud guard block        (block_not_found)
├── PolicyConflict            another policy change landed meanwhile  (policy_conflict)
├── RateLimited               a throttling policy refused             (rate_limited)
├── IdempotencyConflict       same key, different body                (idempotency_conflict)
├── IdempotencyInProgress     same key still being served             (idempotency_in_progress)
├── StorageUnavailable        Redis unreachable or write not acknowledged (storage_unavailable)
├── MetricsUnavailable        /metrics found none of its own samples  (metrics_unavailable)
└── ProviderError             the SMS provider did not deliver the send
    ├── PhoneRejected         the provider refuses this number        (phone_rejected)
    └── ProviderUnavailable   outage, timeout, limit, account problem (provider_unavailable)

The HTTP layer maps these to statuses; nothing below it knows a status code.
"""

from __future__ import annotations

import enum
import math


def wait_seconds(seconds: float) -> int:
    """A wait in whole seconds, rounded up: a time we state never comes before the truth."""
    return max(1, math.ceil(seconds))


class OtpError(Exception):
    """Base of every error the service raises on purpose."""

    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)


class InvalidRequest(OtpError):
    code = "invalid_request"
    title = "Invalid request"


class InvalidPhone(InvalidRequest):
    code = "invalid_phone"
    title = "Invalid phone number"


class NotMobile(InvalidPhone):
    """A valid number of a kind that cannot receive SMS (landline, toll-free, ...): the same
    problem on /v1, its own code (60205) on the Twilio surface."""


class InvalidCode(InvalidRequest):
    code = "invalid_code"
    title = "Invalid code"


class Unauthorized(OtpError):
    code = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(OtpError):
    code = "forbidden"
    title = "This key may not do that"


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    title = "Form token missing or wrong"


class CountryNotAllowed(OtpError):
    code = "country_not_allowed"
    title = "Destination country not allowed"
    # A policy refusal like RateLimited's (otp_refusals and the statistics name it so).
    policy = "country_not_allowed"


class PrefixDenied(OtpError):
    code = "prefix_denied"
    title = "Destination number not allowed"
    policy = "prefix_denied"  # OTP_PREFIX_DENY, or a number outside OTP_PREFIX_ALLOW


class NotFoundReason(enum.Enum):
    """Why a verification is not usable. Internal: /v1 answers the same body for all."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    APPROVED = "approved"
    CANCELED = "canceled"
    EXHAUSTED = "max_attempts_reached"


class VerificationNotFound(OtpError):
    code = "verification_not_found"
    title = "Verification not found"

    def __init__(self, reason: NotFoundReason = NotFoundReason.UNKNOWN) -> None:
        # The reason never reaches /v1 bodies (no enumeration); the Twilio surface needs it.
        self.reason = reason
        super().__init__("No pending verification matches.")


class WebhookNotFound(OtpError):
    code = "webhook_not_found"
    title = "Webhook endpoint not found"


class BlockNotFound(OtpError):
    code = "block_not_found"
    title = "No such fraud guard block"


class InvalidPolicy(InvalidRequest):
    """A runtime policy change the environment would refuse too; nothing was changed."""

    code = "invalid_policy"
    title = "Invalid policy change"


class PolicyConflict(OtpError):
    code = "policy_conflict"
    title = "The policy changed meanwhile; nothing was changed"


class DeadLetterNotFound(OtpError):
    code = "dead_letter_not_found"
    title = "Dead letter not found"


class RateLimited(OtpError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, policy: str, retry_after: float) -> None:
        self.policy = policy
        self.retry_after = wait_seconds(retry_after)
        super().__init__(f"Refused by policy '{policy}'; retry after {self.retry_after} s.")


class IdempotencyConflict(OtpError):
    code = "idempotency_conflict"
    title = "Idempotency key reused with a different request"


class IdempotencyInProgress(OtpError):
    code = "idempotency_in_progress"
    title = "A request with this idempotency key is still in progress"


class StorageUnavailable(OtpError):
    code = "storage_unavailable"
    title = "Storage unavailable"


class MetricsUnavailable(OtpError):
    code = "metrics_unavailable"
    title = "Metrics unavailable"


class Fault(enum.Enum):
    """Whose fault a provider failure is."""

    CALLER = "caller"  # the number or input the caller gave
    ACCOUNT = "account"  # our provider account or configuration
    PROVIDER_LIMIT = "provider_limit"  # the provider's own rate limit
    PROVIDER = "provider"  # outage, timeout, protocol error


class ProviderError(OtpError):
    """The provider did not accept a request.

    ``may_have_sent`` is true when the SMS may have left anyway (timeout, reset,
    5xx, unreadable body); false for a definite refusal by result code.
    """

    code = "provider_unavailable"
    title = "SMS provider unavailable"
    fault: Fault = Fault.PROVIDER
    retryable: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        result_code: str | None = None,
        may_have_sent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.result_code = result_code
        self.may_have_sent = may_have_sent
        self.retry_after = retry_after
        super().__init__(detail)


class PhoneRejected(ProviderError):
    code = "phone_rejected"
    title = "The SMS provider rejected this phone number"
    fault = Fault.CALLER


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    title = "SMS provider unavailable"
