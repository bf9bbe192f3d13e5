"""structlog set-up: JSON in production, readable in development, secrets always redacted.

Every line, ours or a library's through the standard ``logging`` module (uvicorn, granian,
httpx, redis), goes through the same processors:

* fields named like secrets (``code``, ``otp_code``, ``text``, ``api_key``, ...) are replaced;
* ``api_key=...`` inside any string (the provider's OTP endpoint puts its key in the URL) is
  scrubbed;
* the exact values registered with ``configure_logging(secrets=...)`` (OTP_SECRET, the
  provider key) are scrubbed wherever they appear;
* phone numbers in strings (``+905451234567`` or bare 10-15 digit runs) are masked to
  ``+90545123****``, the one mask of ``otpservice.domain.phone``.

The request id bound by the request middleware (structlog contextvars) joins every line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import msgspec
import structlog

from otpservice.domain.phone import mask_digits

# Keys whose values are never logged, whatever an event carries.
SECRET_KEYS = frozenset(
    {
        "code",
        "otp_code",
        "text",
        "message_text",
        "api_key",
        "authorization",
        "secret",
        "key",
        "password",
        "token",
        "client_key",
        "provider_key",
    }
)
REDACTED = "[redacted]"
_API_KEY_IN_URL = re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w*+])(\+?)(\d{10,15})(?![\w*])")
# Libraries that log request URLs at INFO: a provider URL can carry its key and a number.
_QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "urllib3")

_secret_values: tuple[str, ...] = ()


def _mask_phones(value: str) -> str:
    return _PHONE.sub(lambda m: m.group(1) + mask_digits(m.group(2)), value)


def scrub(value: str) -> str:
    """A string as it may appear in a log: registered secrets, URL keys and numbers hidden."""
    for secret in _secret_values:
        if secret in value:
            value = value.replace(secret, REDACTED)
    if "api_key=" in value.lower():
        value = _API_KEY_IN_URL.sub(r"\1" + REDACTED, value)
    return _mask_phones(value)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop secret-named fields and scrub every string value (see the module docstring)."""
    for name in list(event):
        value = event[name]
        if name.lower() in SECRET_KEYS:
            event[name] = REDACTED
        elif isinstance(value, str):
            event[name] = scrub(value)
        elif isinstance(value, BaseException | bytes | bytearray):
            event[name] = scrub(repr(value))
    return event


def register_secrets(values: Iterable[str | bytes]) -> None:
    """Values that must never appear in a log line (8 characters or more, to be safe)."""
    global _secret_values
    found = {v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values}
    _secret_values = tuple(sorted((v for v in found if len(v) >= 8), key=len, reverse=True))


# msgspec renders a line several times faster than the standard library's json, which
# mattered on the refused-request path (bench/); anything it cannot encode is logged as repr.
_JSON = msgspec.json.Encoder(enc_hook=repr)


def render_json(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    return _JSON.encode(event).decode()


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return render_json
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def configure_logging(
    fmt: str = "json", level: str = "INFO", *, secrets: Iterable[str | bytes] = ()
) -> None:
    """Configure structlog and the standard library's root logger to print to stderr."""
    register_secrets(secrets)
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact,
            _renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # WriteLogger: PrintLogger's output (a line, flushed) without print()'s overhead.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Library log records: the same processors, the same output, one line each.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            _renderer(fmt),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_otpservice", False)]:
        root.removeHandler(old)
    handler._otpservice = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # Servers' own access logs would duplicate our one-event-per-request line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("granian.access").setLevel(logging.WARNING)
