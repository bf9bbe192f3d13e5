"""Admission control at the edge of the app: shed a flooding client's requests with 503
and ``Retry-After`` before any work is done for them (throttling/admission.py decides).

A plain ASGI wrapper inside the request observability, so a shed request still gets its
request id, count and log line, and outside Litestar, so shedding costs no routing,
dependency resolution or exception handling. A shed is a refusal like the policies': it is
counted in ``otp_refusals{policy="admission"}`` and, per client, in the statistics
(events/refusals.py, written once a second, never on the shed's own path).
"""

from __future__ import annotations

from typing import Any

import msgspec

from otpservice.api.auth import find_client
from otpservice.api.twilio.auth import basic_credentials, find_credential
from otpservice.api.twilio.errors import SERVICE_UNAVAILABLE, TwilioError
from otpservice.config import Settings
from otpservice.domain.ports import RefusalCounter
from otpservice.domain.telemetry import Telemetry
from otpservice.errors import wait_seconds
from otpservice.observability.requests import POLICY_IN_SCOPE
from otpservice.throttling.admission import ANONYMOUS, Admission, Shed

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
POLICY = "admission"

_V1_BODY = msgspec.json.encode(
    {
        "type": "urn:otpservice:problem:overloaded",
        "title": "Service overloaded",
        "status": 503,
        "detail": "This client has too many requests in progress; retry after the wait.",
        "code": "overloaded",
        "policy": POLICY,
        "retry_after": 1,
    }
)
_V2_BODY = msgspec.json.encode(
    {
        "code": SERVICE_UNAVAILABLE,
        "message": "Service Unavailable",
        "more_info": f"https://www.twilio.com/docs/errors/{SERVICE_UNAVAILABLE}",
        "status": 503,
    }
)


def client_name_of(scope: dict[str, Any], settings: Settings) -> str:
    """The configured name of the caller's key, or ANONYMOUS. Only the name is used here:
    authentication proper (ambiguous headers, 401s, 403s) stays with the routes."""
    header = b""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            if header:
                return ANONYMOUS  # ambiguous: the routes refuse it
            header = value
    if not header:
        return ANONYMOUS
    try:
        text = header.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return ANONYMOUS
    scheme, _, token = text.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        client = find_client(settings.clients, token.strip())
        return client.name if client is not None else ANONYMOUS
    if scheme == "basic":
        try:
            sid, secret = basic_credentials(text)
        except TwilioError:
            return ANONYMOUS
        credential = find_credential(settings.twilio.credentials, sid, secret)
        if credential is None:
            return ANONYMOUS
        return settings.twilio.accounts.get(credential.account, ANONYMOUS)
    return ANONYMOUS


class AdmissionControl:
    """``refusals``: where sheds are counted for the statistics; the app sets it once
    Redis is connected (until then, and with it None, only the metric counts them)."""

    def __init__(
        self,
        app: Any,
        admission: Admission,
        settings: Settings,
        metrics: Telemetry,
        refusals: RefusalCounter | None = None,
    ) -> None:
        self.app = app
        self.admission = admission
        self.settings = settings
        self.metrics = metrics
        self.refusals = refusals

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or not self.admission.settings.enabled
            or scope.get("path", "") in EXEMPT
        ):
            await self.app(scope, receive, send)
            return
        name = client_name_of(scope, self.settings)
        try:
            await self.admission.acquire(name)
        except Shed as shed:
            scope.setdefault("state", {})[POLICY_IN_SCOPE] = POLICY
            self.metrics.refused(POLICY)
            if self.refusals is not None:
                # Anonymous callers are counted under no client, as unauthenticated refusals.
                self.refusals.note("" if name == ANONYMOUS else name, POLICY, "")
            await self._shed(scope, send, shed.retry_after)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release(name)

    @staticmethod
    async def _shed(scope: Any, send: Any, retry_after: float) -> None:
        twilio = str(scope.get("path", "")).startswith("/v2/")
        body = _V2_BODY if twilio else _V1_BODY
        media = b"application/json" if twilio else b"application/problem+json"
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", media),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(wait_seconds(retry_after)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
