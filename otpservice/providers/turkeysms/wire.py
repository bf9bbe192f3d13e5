"""The provider's own wire format: field names, loose types, and tolerant parsing.

The provider's types are not settled (see NOTES.md): ``result`` arrives as ``true``,
``"true"``, ``1`` or ``"1"``; ids and codes as numbers or strings. Everything here
accepts all of those and normalises once, so ``client.py`` only sees clean values.
Bodies are JSON when we ask for it, but a PHP ``print_r`` dump is parsed too in case
the provider ignores ``response_type``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from otpservice.domain.ports import DeliveryState

Loose = bool | int | float | str | None
T = TypeVar("T")

SEND_OK = frozenset({"TS-1024"})
STATUS_OK = frozenset({"TS-1064"})
BALANCE_OK = frozenset({"TS-1040"})


class WireError(ValueError):
    """The body is not a reply we can read (not JSON/print_r, not an object, bad field)."""


class SendReply(msgspec.Struct, kw_only=True):
    """Answer of ``otp_get.php``, ``gonder/add-content`` and ``get.php``."""

    result: Loose = None
    sms_id: Loose = None
    otp_code: Loose = None
    number_of_sms: Loose = None
    total_has_sent_last_1_min: Loose = None
    result_code: Loose = None
    result_message: Loose = None
    sms_lang: Loose = None
    content_type: Loose = None
    country: Loose = None


class StatusReply(msgspec.Struct, kw_only=True):
    """Answer of ``sms_durumu.php``."""

    result: Loose = None
    result_code: Loose = None
    result_message: Loose = None
    sender_id: Loose = None
    date_of_sending: Loose = None
    time_of_sending: Loose = None
    sms_status: Loose = None
    sms_status_code: Loose = None
    sms_balance: Loose = None
    operator: Loose = None


class BalanceReply(msgspec.Struct, kw_only=True):
    """Answer of ``bakiye_sorgulama/add-content``. ``api_key`` is ignored on purpose."""

    result: Loose = None
    result_code: Loose = None
    result_message: Loose = None
    local_balance_sms: Loose = None
    international_balance_tl: Loose = None


_PRINT_R_LINE = re.compile(r"^\s*\[([^\]]+)\]\s*=>\s?(.*?)\s*$", re.MULTILINE)


def parse_print_r(text: str) -> dict[str, str]:
    """Read a flat PHP ``print_r`` array dump; empty dict if there is none."""
    if "=>" not in text:
        return {}
    return {m.group(1).strip(): m.group(2) for m in _PRINT_R_LINE.finditer(text)}


def decode_body(body: bytes) -> dict[str, Any]:
    """The reply as a flat mapping, from JSON or ``print_r``; ``WireError`` otherwise."""
    stripped = body.strip()
    if not stripped:
        raise WireError("empty body")
    if stripped[:1] in (b"{", b"["):
        try:
            data = msgspec.json.decode(stripped)
        except msgspec.DecodeError as exc:
            raise WireError("invalid JSON") from exc
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise WireError("JSON is not an object")
        return data
    text = stripped.decode("utf-8", errors="replace")
    if text.lstrip().lower().startswith(("<!doctype", "<html")) or "<body" in text.lower():
        raise WireError("HTML instead of a reply")
    fields = parse_print_r(text)
    if not fields:
        raise WireError("neither JSON nor print_r")
    return fields


def convert(data: dict[str, Any], kind: type[T]) -> T:
    """Map a decoded body onto a reply struct; unexpected nesting is a ``WireError``."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise WireError(f"unexpected field type: {exc}") from None


def as_bool(value: Loose) -> bool | None:
    """``True``/``False`` for the forms seen in the wild, ``None`` if absent or odd."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1 if value in (0, 1) else None
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1", "yes", "ok", "success"):
            return True
        if v in ("false", "0", "no", ""):
            return False
    return None


def as_text(value: Loose) -> str | None:
    """A string field, or ``None`` when missing/empty. Integral floats lose their ``.0``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def as_code(value: Loose) -> str | None:
    """A result code normalised to ``TS-NNNN`` (numbers and lowercase tolerated)."""
    text = as_text(value)
    if text is None:
        return None
    text = text.upper()
    if text.isdigit():
        return f"TS-{text}"
    return text


def as_int(value: Loose) -> int | None:
    """An integer from ``1``, ``"1"``, ``1.0`` or ``"1 SMS"``; ``None`` when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    m = re.match(r"\s*(-?\d+)", value)
    return int(m.group(1)) if m else None


def as_float(value: Loose) -> float | None:
    """A decimal amount from a number or a string (``"12.50"``, ``"12,50"``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value.strip().replace(",", "."))
    except ValueError:
        return None


def otp_code_text(value: Loose, digits: int) -> str | None:
    """The OTP code as a string that keeps its leading zeros.

    A string is taken as is. A JSON number cannot carry a leading zero (``012345``
    arrives as ``12345``), so a numeric code is left-padded with zeros to the number
    of digits we asked for; that is the only reading under which the provider's
    text and its reply agree.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int):
        return str(value).zfill(digits) if value >= 0 else None
    text = value.strip()
    return text if text.isdigit() else None


def delivery_state(code: str | None, status_text: str | None) -> DeliveryState:
    """Delivery outcome from ``sms_status_code`` (preferred) or ``sms_status`` text."""
    if code == "TS-1024":
        return DeliveryState.DELIVERED
    if code == "TS-1022":
        return DeliveryState.NOT_DELIVERED
    if code == "TS-1023":
        return DeliveryState.OUT_OF_COVERAGE
    text = (status_text or "").lower()
    if "coverage" in text:
        return DeliveryState.OUT_OF_COVERAGE
    if "not" in text and "receive" in text:
        return DeliveryState.NOT_DELIVERED
    if "received" in text or text == "delivered":
        return DeliveryState.DELIVERED
    return DeliveryState.PENDING


def sent_at(date: Loose, time: Loose) -> str | None:
    """``date_of_sending`` + ``time_of_sending`` as ISO 8601 (no zone: none is given)."""
    d, t = as_text(date), as_text(time)
    if d and t:
        return f"{d}T{t}"
    return d
