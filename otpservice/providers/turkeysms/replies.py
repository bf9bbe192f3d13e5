"""How a Turkey SMS reply is read: success, or which typed error, by ``result`` and
``result_code`` (the HTTP status says nothing), with a redacted snippet of what came back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVar

from otpservice.domain.ports import SentSms

from . import wire
from .errors import ProviderProtocolError, TurkeySmsRefusal, error_for_code, known_codes
from .redaction import Redactor

# Codes that mean "sent" or "checked"; paired with result=false they are contradictions.
SUCCESSISH: Final = frozenset({"TS-1022", "TS-1023", "TS-1024", "TS-1064"})
T = TypeVar("T")


@dataclass(slots=True)
class CallLog:
    """What one operation's ``provider.call`` event reports."""

    operation: str
    mobile: str | None = None
    attempts: int = 0
    http_status: int | None = None
    result_code: str | None = None
    parts: int | None = None
    sent_possible: bool = False


def convert(data: dict[str, Any], kind: type[T], status: int, red: Redactor, call: CallLog) -> T:
    try:
        return wire.convert(data, kind)
    except wire.WireError as exc:
        raise ProviderProtocolError(
            str(exc),
            status=status,
            snippet=snip(data, red),
            may_have_sent=call.operation.startswith("send"),
        ) from None


def judge(
    result: wire.Loose,
    result_code: wire.Loose,
    ok_codes: frozenset[str],
    status: int,
    data: dict[str, Any],
    red: Redactor,
    call: CallLog,
) -> None:
    """Success or failure by ``result`` and ``result_code``; the HTTP status is ignored."""
    code = wire.as_code(result_code)
    call.result_code = code
    ok = wire.as_bool(result)
    if ok is None and code is not None:
        ok = code in ok_codes or (False if code in known_codes() else None)
    is_send = call.operation.startswith("send")
    if ok is True:
        if code is None or code in ok_codes:
            return
        if code in known_codes():  # result true yet a failure code: trust neither
            raise error_for_code(code)(may_have_sent=is_send)
        raise protocol_error(f"unknown result code {code}", status, data, red, call)
    if ok is False and code is not None and code in known_codes():
        cls: type[TurkeySmsRefusal] = error_for_code(code)
        if code in SUCCESSISH:
            raise cls(may_have_sent=is_send and cls.sent_by_default)
        raise cls()
    reason = "no result field" if ok is None else "failure without a known result code"
    raise protocol_error(reason, status, data, red, call)


def protocol_error(
    reason: str, status: int, data: dict[str, Any], red: Redactor, call: CallLog
) -> ProviderProtocolError:
    return ProviderProtocolError(
        reason,
        status=status,
        snippet=snip(data, red),
        result_code=call.result_code,
        may_have_sent=call.operation.startswith("send"),
    )


def sent_sms(
    reply: wire.SendReply,
    status: int,
    data: dict[str, Any],
    red: Redactor,
    call: CallLog,
    *,
    otp_code: str | None,
) -> SentSms:
    sms_id = wire.as_text(reply.sms_id)
    if sms_id is None:
        raise protocol_error("success without sms_id", status, data, red, call)
    parts = max(1, wire.as_int(reply.number_of_sms) or 1)
    call.parts = parts
    return SentSms(sms_id=sms_id, parts=parts, otp_code=otp_code)


def snip(data: dict[str, Any], red: Redactor) -> str:
    """A redacted one-line view of a decoded reply (secret fields by name, too)."""
    safe = {k: ("***" if k in ("api_key", "otp_code", "text") else v) for k, v in data.items()}
    return red.snippet(repr(safe).encode())
