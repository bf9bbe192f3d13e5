"""Keeping a provider account's secrets (the API key, message texts, OTP codes) out of
what httpx sees and logs: query-string secrets ride in a request extension and join the
URL only in ``SecretQueryTransport``, right before the wire; a logging filter on httpx's
and httpcore's loggers redacts ``api_key=``/``text=``/``otp_code=`` as a second line of
defence; ``Redactor`` cleans every body snippet put into an error."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, quote_plus

import httpx

from otpservice.domain.phone import mask_digits

# The request extension that carries the query's secrets past httpx's own logging.
SECRET_QUERY: Final = "otpservice.secret_query"  # noqa: S105 - a name, not a secret
_SECRET_FIELDS: Final = "api_key|otp_code|text"  # noqa: S105 - field names

_JSON_FIELD = re.compile(rf'("(?:{_SECRET_FIELDS})"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}}\s]*)')
_QUERY_FIELD = re.compile(rf"((?:^|[?&;\s])(?:{_SECRET_FIELDS})=)[^&\s\"']*")
_PRINT_R_FIELD = re.compile(rf"(\[(?:{_SECRET_FIELDS})\]\s*=>\s?)[^\r\n]*")


class Redactor:
    """Removes secret fields by name, plus any literal secret it was given."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        literals: set[str] = set()
        for s in secrets:
            if s and len(s) >= 4:
                literals.update({s, quote(s, safe=""), quote_plus(s)})
        # Longest first, so a secret containing another is removed whole.
        self._literals = sorted(literals, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _JSON_FIELD.sub(r'\1"***"', text)
        text = _QUERY_FIELD.sub(r"\1***", text)
        text = _PRINT_R_FIELD.sub(r"\1***", text)
        for s in self._literals:
            text = text.replace(s, "***")
        return text

    def snippet(self, body: bytes, limit: int = 160) -> str:
        """A redacted, truncated, printable view of a body for error messages."""
        text = self(body[: limit * 4].decode("utf-8", errors="replace"))
        text = re.sub(r"\s+", " ", text).strip()
        return text[:limit]


_NAME_REDACTOR: Final = Redactor()


class _RedactingFilter(logging.Filter):
    """Rewrites a record's final message with secret query/body fields redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; let logging report it
            return True
        redacted = _NAME_REDACTOR(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_FILTER: Final = _RedactingFilter()
_FILTERED_LOGGERS: Final = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def install_log_redaction() -> None:
    """Attach the redacting filter to the httpx/httpcore loggers (idempotent).

    Logger filters do not apply to records propagated from child loggers, hence the
    explicit list of httpcore's children.
    """
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def mask_msisdn(msisdn: str) -> str:
    """The one mask of ``otpservice.domain.phone`` (last digits hidden); all stars if not digits."""
    if not msisdn.isdigit():
        return "*" * len(msisdn)
    return mask_digits(msisdn)


class SecretQueryTransport(httpx.AsyncBaseTransport):
    """Merges the secret query parameters into the URL on the way to the wire only."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        secrets = request.extensions.get(SECRET_QUERY)
        if not secrets:
            return await self._inner.handle_async_request(request)
        extensions = {k: v for k, v in request.extensions.items() if k != SECRET_QUERY}
        wire_request = httpx.Request(
            request.method,
            request.url.copy_merge_params(secrets),
            headers=request.headers,
            stream=request.stream,
            extensions=extensions,
        )
        return await self._inner.handle_async_request(wire_request)

    async def aclose(self) -> None:
        await self._inner.aclose()
