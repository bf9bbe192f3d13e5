"""One mapping from errors to RFC 9457 problems. Handlers contain no try/except ladders."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from otpservice import errors
from otpservice.api.schemas import Problem
from otpservice.api.twilio import errors as twilio_errors

log = structlog.get_logger("otpservice.api")

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first class that matches decides the status.
STATUS: list[tuple[type[errors.OtpError], int]] = [
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.CountryNotAllowed, 403),
    (errors.PrefixDenied, 403),
    (errors.VerificationNotFound, 404),
    (errors.WebhookNotFound, 404),
    (errors.DeadLetterNotFound, 404),
    (errors.BlockNotFound, 404),
    (errors.PolicyConflict, 409),
    (errors.IdempotencyConflict, 409),
    (errors.IdempotencyInProgress, 409),
    (errors.InvalidRequest, 422),
    (errors.PhoneRejected, 422),
    (errors.RateLimited, 429),
    (errors.StorageUnavailable, 503),
    (errors.MetricsUnavailable, 500),
    (errors.ProviderError, 503),
]

HTTP_CODES = {
    400: ("invalid_request", "Invalid request"),
    401: ("unauthorized", "Missing or invalid API key"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    408: ("request_timeout", "Request body too slow"),
    413: ("body_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal error"),
    503: ("service_unavailable", "Service unavailable"),
}


PROVIDER_DETAIL = {
    "phone_rejected": "The SMS provider refused this number; nothing is pending.",
    "provider_unavailable": "The SMS provider is unavailable; nothing is pending. Retry later.",
}


def status_of(exc: errors.OtpError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    policy: str | None = None,
    retry_after: int | None = None,
) -> Response[Problem]:
    body = problem(status, code, title, detail, policy, retry_after)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or {})


def otp_problem(exc: errors.OtpError) -> tuple[Problem, dict[str, str]]:
    """The problem and the headers that answer a domain error (the app's exception handler
    and the hot routes of api/hot.py answer with this one mapping)."""
    status = status_of(exc)
    headers: dict[str, str] = {}
    retry_after: int | None = None
    policy: str | None = None
    if isinstance(exc, errors.RateLimited):
        retry_after, policy = exc.retry_after, exc.policy
    elif isinstance(exc, errors.ProviderError) and exc.retry_after:
        retry_after = errors.wait_seconds(exc.retry_after)
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="otpservice"'
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    # One body for every reason a verification is unusable: no enumeration.
    detail = exc.detail
    if isinstance(exc, errors.VerificationNotFound):
        detail = "No pending verification matches."
    if isinstance(exc, errors.ProviderError):
        # The provider's own words (result texts, body snippets of HTML or truncated JSON)
        # are for the log, not for callers: they may carry provider internals.
        detail = PROVIDER_DETAIL.get(exc.code, PROVIDER_DETAIL["provider_unavailable"])
    return problem(status, exc.code, exc.title, detail, policy, retry_after), headers


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    policy: str | None = None,
    retry_after: int | None = None,
) -> Problem:
    return Problem(
        type=f"urn:otpservice:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        code=code,
        policy=policy,
        retry_after=retry_after,
    )


def otp_error_response(request: Request[Any, Any, Any], exc: errors.OtpError) -> Response[Problem]:
    body, headers = otp_problem(exc)
    return Response(body, status_code=body.status, media_type=PROBLEM_JSON, headers=headers)


def http_error_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if request.url.path.startswith("/v2/"):  # no route matched: answer in Twilio's shape
        return twilio_errors.http_error_response(request, exc)
    status = exc.status_code
    code, title = HTTP_CODES.get(status, ("http_error", "HTTP error"))
    detail = exc.detail if status != 500 else "Internal error"
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        # msgspec's messages name the field and the expected type, never the value sent.
        messages = [str(e.get("message", "")) for e in exc.extra if isinstance(e, dict)]
        if messages:
            detail = "; ".join(m for m in messages if m)[:500]
    return problem_response(status, code, title, detail, headers=dict(exc.headers or {}))


def internal_problem(exc: Exception) -> Problem:
    """What answers an error nobody raised on purpose: its type in the log, nothing more."""
    log.error("request.unhandled_error", error_type=type(exc).__name__)
    return problem(500, "internal_error", "Internal error", "Internal error")


def internal_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    return Response(internal_problem(exc), status_code=500, media_type=PROBLEM_JSON)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    errors.OtpError: otp_error_response,
    HTTPException: http_error_response,
    Exception: internal_error_response,
}
