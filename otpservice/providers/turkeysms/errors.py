"""Typed errors for the Turkey SMS API v3, one class per documented ``TS-`` code.

Every class sits under the service's own tree so callers can stay generic::

    otpservice.errors.ProviderError
    ├── PhoneRejected                         fault=CALLER: the number the caller gave
    │   └── (TurkeySmsRefusal)
    │       ├── MobileEmpty                   TS-1025
    │       ├── InternationalNotEnabled       TS-1032
    │       └── MobileInvalid                 TS-1034
    └── ProviderUnavailable
        ├── ProviderProtocolError             timeout, reset, 5xx/HTML/truncated body,
        │                                     unknown code (fault=PROVIDER, may_have_sent=True)
        ├── ProviderUnreachable               connect failed after retries (may_have_sent=False)
        └── (TurkeySmsRefusal)
            ├── NumberDidNotReceive           TS-1022  fault=PROVIDER
            ├── NumberOutOfCoverage           TS-1023  fault=PROVIDER
            ├── SentButFlaggedFailed          TS-1024  fault=PROVIDER (contradictory answer)
            ├── TextEmpty                     TS-1026  fault=ACCOUNT
            ├── InsufficientBalance           TS-1027  fault=ACCOUNT
            ├── SenderIdInactive              TS-1028  fault=ACCOUNT
            ├── SenderIdUnknown               TS-1029  fault=ACCOUNT
            ├── AccountInactive               TS-1030  fault=ACCOUNT
            ├── ApiKeyInvalid                 TS-1031  fault=ACCOUNT
            ├── MalformedRequest              TS-1033  fault=ACCOUNT
            ├── ApiKeyEmpty                   TS-1050  fault=ACCOUNT
            ├── SenderIdEmpty                 TS-1051  fault=ACCOUNT
            ├── SmsIdEmpty                    TS-1052  fault=ACCOUNT
            ├── PerMinuteLimit                TS-1060  PROVIDER_LIMIT, retryable, retry_after=60
            ├── PostSendingDisabled           TS-1061  fault=ACCOUNT
            ├── GetSendingDisabled            TS-1062  fault=ACCOUNT
            ├── StatusCheckDisabled           TS-1063  fault=ACCOUNT
            ├── StatusFlaggedFailed           TS-1064  fault=PROVIDER (contradictory answer)
            └── BalanceCheckDisabled          TS-1065  fault=ACCOUNT

``(TurkeySmsRefusal)`` is a common base (``except TurkeySmsRefusal`` catches every
coded answer); it defines no ``code``/``title``/``fault`` of its own, so each class
keeps the ones of its service-level parent.

Judgment calls on ``fault``:

* TS-1026 (empty text): the end user never supplies the text; the service composes it
  from its templates, so an empty text is our configuration or integration -> ACCOUNT.
* TS-1033 (malformed request): the client builds every parameter itself; the provider
  not understanding it means our integration or its API changed. Not transient and
  needs an operator, which is what ACCOUNT signals (PROVIDER would invite retries).
* TS-1052 (empty message id): ``delivery()`` was called with an empty id, a bug of our
  own caller, not of the end user -> ACCOUNT.
* TS-1022/1023/1024/1064 are delivery or success codes; they only become errors when the
  provider pairs them with ``result: false``. Such a contradictory answer is the
  provider's protocol problem -> PROVIDER, and for the send codes ``may_have_sent=True``.

Messages never contain the API key, the OTP code or the message text: a refusal's
text is the fixed description of its code; a protocol error carries a redacted,
truncated snippet of what was received.
"""

from __future__ import annotations

from typing import ClassVar

from otpservice.errors import Fault, PhoneRejected, ProviderError, ProviderUnavailable

__all__ = [
    "AccountInactive",
    "ApiKeyEmpty",
    "ApiKeyInvalid",
    "BalanceCheckDisabled",
    "GetSendingDisabled",
    "InsufficientBalance",
    "InternationalNotEnabled",
    "MalformedRequest",
    "MobileEmpty",
    "MobileInvalid",
    "NumberDidNotReceive",
    "NumberOutOfCoverage",
    "PerMinuteLimit",
    "PostSendingDisabled",
    "ProviderProtocolError",
    "ProviderUnreachable",
    "SenderIdEmpty",
    "SenderIdInactive",
    "SenderIdUnknown",
    "SentButFlaggedFailed",
    "SmsIdEmpty",
    "StatusCheckDisabled",
    "StatusFlaggedFailed",
    "TextEmpty",
    "TurkeySmsRefusal",
    "error_for_code",
    "known_codes",
]

SNIPPET_LIMIT = 200


class TurkeySmsRefusal(ProviderError):
    """A definite answer from the provider carrying a documented ``TS-`` code.

    Subclasses set ``result_code`` and ``description``; ``may_have_sent`` defaults to
    ``sent_by_default`` (false: a refusal means nothing left).
    """

    result_code: str = ""  # narrowed from ``str | None``: always known for this family
    description: ClassVar[str] = ""
    sent_by_default: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        may_have_sent: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        code = type(self).result_code
        super().__init__(
            detail or f"Turkey SMS answered {code}: {self.description}",
            result_code=code,
            may_have_sent=self.sent_by_default if may_have_sent is None else may_have_sent,
            retry_after=retry_after,
        )


class ProviderProtocolError(ProviderUnavailable):
    """The provider's answer could not be trusted or never came.

    Timeouts, resets, 5xx with an unreadable body, HTML, truncated JSON, unknown codes.
    The SMS may have left, hence ``may_have_sent=True`` by default. ``status`` and
    ``snippet`` describe what was received; the caller redacts the snippet before it
    gets here (see ``redaction.Redactor``), and it is truncated again as a safety net.
    """

    fault = Fault.PROVIDER
    retryable = True

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        snippet: str | None = None,
        result_code: str | None = None,
        may_have_sent: bool = True,
    ) -> None:
        self.reason = reason
        self.status = status
        self.snippet = None if snippet is None else snippet[:SNIPPET_LIMIT]
        parts = [f"Turkey SMS protocol error: {reason}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if self.snippet:
            parts.append(f"body starts {self.snippet!r}")
        super().__init__("; ".join(parts), result_code=result_code, may_have_sent=may_have_sent)


class ProviderUnreachable(ProviderUnavailable):
    """No connection could be made (after retries): the request provably never left."""

    fault = Fault.PROVIDER
    retryable = True

    def __init__(self, reason: str, *, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(
            f"Turkey SMS unreachable after {attempts} attempt(s): {reason}", may_have_sent=False
        )


# --- caller's input -------------------------------------------------------------------


class MobileEmpty(TurkeySmsRefusal, PhoneRejected):
    result_code = "TS-1025"
    description = "The mobile number has not been entered"
    fault = Fault.CALLER


class InternationalNotEnabled(TurkeySmsRefusal, PhoneRejected):
    result_code = "TS-1032"
    description = "International number; the account is not enabled for international SMS"
    fault = Fault.CALLER


class MobileInvalid(TurkeySmsRefusal, PhoneRejected):
    result_code = "TS-1034"
    description = "The mobile number is invalid"
    fault = Fault.CALLER


# --- delivery / success codes paired with result=false --------------------------------


class NumberDidNotReceive(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1022"
    description = "The number did not receive the message"
    fault = Fault.PROVIDER
    sent_by_default = True


class NumberOutOfCoverage(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1023"
    description = "The number is out of coverage and did not receive the message yet"
    fault = Fault.PROVIDER
    sent_by_default = True


class SentButFlaggedFailed(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1024"
    description = "Success code reported together with result=false"
    fault = Fault.PROVIDER
    sent_by_default = True


class StatusFlaggedFailed(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1064"
    description = "Status-success code reported together with result=false"
    fault = Fault.PROVIDER


# --- our account or integration -------------------------------------------------------


class TextEmpty(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1026"
    description = "Message text is empty"
    fault = Fault.ACCOUNT


class InsufficientBalance(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1027"
    description = "Insufficient balance in the account"
    fault = Fault.ACCOUNT


class SenderIdInactive(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1028"
    description = "Sender ID is not active for the account"
    fault = Fault.ACCOUNT


class SenderIdUnknown(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1029"
    description = "The Sender ID does not exist"
    fault = Fault.ACCOUNT


class AccountInactive(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1030"
    description = "The account is inactive with the provider"
    fault = Fault.ACCOUNT


class ApiKeyInvalid(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1031"
    description = "The API key is invalid"
    fault = Fault.ACCOUNT


class MalformedRequest(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1033"
    description = "The data sent is incorrect"
    fault = Fault.ACCOUNT


class ApiKeyEmpty(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1050"
    description = "The API key is empty"
    fault = Fault.ACCOUNT


class SenderIdEmpty(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1051"
    description = "The sender title is empty"
    fault = Fault.ACCOUNT


class SmsIdEmpty(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1052"
    description = "The message ID is empty"
    fault = Fault.ACCOUNT


class PerMinuteLimit(TurkeySmsRefusal, ProviderUnavailable):
    """Per-minute limit per API key. Waiting a minute is allowed; the client never retries."""

    result_code = "TS-1060"
    description = "Exceeded the number of messages allowed in the last minute"
    fault = Fault.PROVIDER_LIMIT
    retryable = True

    def __init__(
        self,
        detail: str | None = None,
        *,
        may_have_sent: bool | None = None,
        retry_after: float | None = 60.0,
    ) -> None:
        super().__init__(detail, may_have_sent=may_have_sent, retry_after=retry_after)


class PostSendingDisabled(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1061"
    description = "The API key is not enabled for sending (POST)"
    fault = Fault.ACCOUNT


class GetSendingDisabled(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1062"
    description = "The API key is not enabled for sending (GET)"
    fault = Fault.ACCOUNT


class StatusCheckDisabled(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1063"
    description = "Status checks are not enabled for the API key"
    fault = Fault.ACCOUNT


class BalanceCheckDisabled(TurkeySmsRefusal, ProviderUnavailable):
    result_code = "TS-1065"
    description = "Balance checks are not enabled for the API key"
    fault = Fault.ACCOUNT


_REGISTRY: dict[str, type[TurkeySmsRefusal]] = {
    cls.result_code: cls
    for cls in (
        NumberDidNotReceive,
        NumberOutOfCoverage,
        SentButFlaggedFailed,
        MobileEmpty,
        TextEmpty,
        InsufficientBalance,
        SenderIdInactive,
        SenderIdUnknown,
        AccountInactive,
        ApiKeyInvalid,
        InternationalNotEnabled,
        MalformedRequest,
        MobileInvalid,
        ApiKeyEmpty,
        SenderIdEmpty,
        SmsIdEmpty,
        PerMinuteLimit,
        PostSendingDisabled,
        GetSendingDisabled,
        StatusCheckDisabled,
        StatusFlaggedFailed,
        BalanceCheckDisabled,
    )
}


def error_for_code(code: str) -> type[TurkeySmsRefusal]:
    """The exception class for a documented ``TS-`` code; ``KeyError`` for unknown ones."""
    return _REGISTRY[code.strip().upper()]


def known_codes() -> frozenset[str]:
    """Every code with an exception class (the documented ones)."""
    return frozenset(_REGISTRY)
