"""structlog set-up: JSON in production, readable in development, secrets always redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are never logged, whatever an event carries.
SECRET_KEYS = frozenset(
    {"code", "otp_code", "text", "api_key", "authorization", "secret", "key", "password", "token"}
)
_API_KEY_IN_URL = re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop secret-named fields and scrub provider keys from URLs in any string value."""
    for name in list(event):
        if name.lower() in SECRET_KEYS:
            event[name] = "[redacted]"
        elif isinstance(event[name], str) and "api_key=" in event[name].lower():
            event[name] = _API_KEY_IN_URL.sub(r"\1[redacted]", event[name])
    return event


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level, logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
