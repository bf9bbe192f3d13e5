"""Twilio-shaped errors, and the one mapping from the service's errors to Twilio's codes.

A body is ``{"code", "message", "more_info", "status"}`` and nothing else: with ``type``
and ``title`` the Twilio SDKs would raise a different exception class.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException

from otpservice import errors

log = structlog.get_logger("otpservice.api.twilio")

INVALID_PARAMETER = 60200
MAX_CHECK_ATTEMPTS = 60202
MAX_SEND_ATTEMPTS = 60203
LANDLINE = 60205
CONCURRENT_REQUESTS = 60212
CHANNEL_DISABLED = 60223
FRAUD_GUARD_BLOCKED = 60410
GEO_PERMISSIONS = 60605
AUTHENTICATE = 20003
METHOD_NOT_ALLOWED = 20004
FORBIDDEN = 20403
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503


class TwilioErrorBody(msgspec.Struct, frozen=True):
    """An error as Twilio's REST API answers it."""

    code: int
    message: str
    more_info: str
    status: int


class TwilioError(Exception):
    """An answer in Twilio's error shape."""

    def __init__(
        self, status: int, code: int, message: str, *, retry_after: int | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        super().__init__(message)


def invalid_parameter(name: str, why: str = "") -> TwilioError:
    return TwilioError(400, INVALID_PARAMETER, f"Invalid parameter `{name}`{why}")


def not_found(path: str) -> TwilioError:
    return TwilioError(404, NOT_FOUND, f"The requested resource {path} was not found")


# RateLimited policies with a Twilio code of their own; every other policy is 20429.
POLICY_ERRORS: dict[str, tuple[int, int, str]] = {
    "max_sends": (429, MAX_SEND_ATTEMPTS, "Max send attempts reached"),
    "send_in_progress": (429, CONCURRENT_REQUESTS, "Too many concurrent requests for phone number"),
    "prefix_blocked": (
        403,
        FRAUD_GUARD_BLOCKED,
        "Verification delivery attempt blocked: too many numbers under this prefix",
    ),
    "fraud_guard": (
        403,
        FRAUD_GUARD_BLOCKED,
        "Verification delivery attempt blocked: Fraud Guard",
    ),
}


def twilio_error_of(exc: errors.OtpError, path: str) -> TwilioError:
    """The Twilio error for a service error. The only place that decides it."""
    if isinstance(exc, errors.VerificationNotFound):
        # Out of attempts is 60202 for a check; to a fetch or an update the verification
        # is gone, as Twilio documents (20404).
        if exc.reason is errors.NotFoundReason.EXHAUSTED and path.endswith("/VerificationCheck"):
            return TwilioError(429, MAX_CHECK_ATTEMPTS, "Max check attempts reached")
        return not_found(path)
    if isinstance(exc, errors.RateLimited):
        status, code, message = POLICY_ERRORS.get(
            exc.policy, (429, TOO_MANY_REQUESTS, "Too Many Requests")
        )
        return TwilioError(status, code, message, retry_after=exc.retry_after)
    if isinstance(exc, errors.NotMobile):
        return TwilioError(400, LANDLINE, "SMS is not supported by landline phone number")
    if isinstance(exc, errors.InvalidPhone | errors.PhoneRejected):
        return invalid_parameter("To")
    if isinstance(exc, errors.InvalidCode):
        return invalid_parameter("Code")
    if isinstance(exc, errors.InvalidRequest):
        return TwilioError(400, INVALID_PARAMETER, "Invalid parameter")
    if isinstance(exc, errors.CountryNotAllowed):
        return TwilioError(
            403, GEO_PERMISSIONS, "Verification delivery attempt blocked: geo permissions"
        )
    if isinstance(exc, errors.PrefixDenied):
        return TwilioError(
            403, FRAUD_GUARD_BLOCKED, "Verification delivery attempt blocked: number not allowed"
        )
    if isinstance(exc, errors.Unauthorized):
        return TwilioError(401, AUTHENTICATE, "Authenticate")
    if isinstance(exc, errors.Forbidden):
        return TwilioError(403, FORBIDDEN, "Forbidden")
    if isinstance(exc, errors.ProviderError | errors.StorageUnavailable):
        retry = getattr(exc, "retry_after", None)
        return TwilioError(
            503,
            SERVICE_UNAVAILABLE,
            "Service unavailable",
            retry_after=errors.wait_seconds(retry) if retry else None,
        )
    return TwilioError(500, INTERNAL_ERROR, "Internal Server Error")


def resource_path(request: Request[Any, Any, Any]) -> str:
    """The path as Twilio names it in messages: after the version."""
    path = request.url.path
    return path[3:] if path.startswith("/v2/") else path


def response_of(error: TwilioError) -> Response[TwilioErrorBody]:
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if error.code == AUTHENTICATE:
        headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    body = TwilioErrorBody(
        code=error.code,
        message=error.message,
        more_info=f"https://www.twilio.com/docs/errors/{error.code}",
        status=error.status,
    )
    return Response(body, status_code=error.status, media_type="application/json", headers=headers)


def _twilio_error(request: Request[Any, Any, Any], exc: TwilioError) -> Response[TwilioErrorBody]:
    return response_of(exc)


def _otp_error(request: Request[Any, Any, Any], exc: errors.OtpError) -> Response[TwilioErrorBody]:
    return response_of(twilio_error_of(exc, resource_path(request)))


HTTP_STATUS_CODES = {
    400: INVALID_PARAMETER,
    401: AUTHENTICATE,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: INVALID_PARAMETER,
    429: TOO_MANY_REQUESTS,
    503: SERVICE_UNAVAILABLE,
}


def http_error_response(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[TwilioErrorBody]:
    """Also called by the app-level handler for /v2 paths that match no route (404, 405)."""
    status = exc.status_code
    if status == 404:
        return response_of(not_found(resource_path(request)))
    code = HTTP_STATUS_CODES.get(status, INTERNAL_ERROR if status >= 500 else INVALID_PARAMETER)
    message = "Internal Server Error" if status >= 500 else str(exc.detail)
    return response_of(TwilioError(status, code, message))


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[TwilioErrorBody]:
    log.error("request.unhandled_error", error_type=type(exc).__name__)
    return response_of(TwilioError(500, INTERNAL_ERROR, "Internal Server Error"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    TwilioError: _twilio_error,
    errors.OtpError: _otp_error,
    HTTPException: http_error_response,
    Exception: _internal_error,
}
