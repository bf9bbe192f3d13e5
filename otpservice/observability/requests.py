"""Per-request observability as a plain ASGI wrapper around the whole app.

It sits outside Litestar's router, so it also sees requests no route matches (404s from
scanners). For every HTTP request it:

* takes the caller's ``X-Request-ID`` when it is sane (1-128 of ``A-Za-z0-9._:-``), else
  makes one; echoes it in the response and binds it in structlog's contextvars, so every
  log line of the request (the domain's too) carries it; on the Twilio surface (/v2) it also
  answers Twilio's ``Twilio-Request-Id: RQ<32 hex>`` (the request id's hex when it is ours),
  logged as ``twilio_request_id``;
* records the request count and latency by route *template* (never the raw path: paths
  can hold ids and, on the Twilio surface, phone numbers) and by method. Both labels come
  from closed sets (a template, else ``unmatched``; a known method, else ``other``): the
  server accepts any token as a method, and every new label value would be a new series
  kept until the process dies;
* logs one ``request`` event with method, route, status, duration, the client's name and,
  for a refusal, the policy that refused it. Under a flood, refusals and not-founds are
  sampled (``RefusalLines``): each (route, status, policy, client) writes at most
  ``REFUSAL_LINES_PER_SECOND`` lines a second, and the next line written for it says how
  many were left out (``suppressed``). Every policy that refuses is still on a line within
  the second, and ``otp_http_requests`` / ``otp_refusals`` count every request.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import structlog

from otpservice.errors import RateLimited
from otpservice.observability.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
TWILIO_REQUEST_ID_HEADER = b"twilio-request-id"
_OUR_ID = re.compile(r"^[0-9a-f]{32}$")
CLIENT_KEY_IN_SCOPE = "otpservice.client"
POLICY_IN_SCOPE = "otpservice.policy"
_OURS_V1 = frozenset({REQUEST_ID_HEADER})
_OURS_V2 = frozenset({REQUEST_ID_HEADER, TWILIO_REQUEST_ID_HEADER})
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED = "unmatched"
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

log = structlog.get_logger("otpservice.access")

Scope = dict[str, Any]


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.match(value):
                return str(value.decode("ascii"))
            break
    return os.urandom(16).hex()  # what uuid4().hex carries, without building a UUID


def note_client(scope: Any, name: str) -> None:
    """Authentication names the caller (its configured name, never its key) for the log."""
    scope.setdefault("state", {})[CLIENT_KEY_IN_SCOPE] = name


async def note_refusal(exc: Exception, scope: Any) -> None:
    """The app's ``after_exception`` hook, for /v1 and the Twilio surface alike: a
    throttling refusal names its policy on the request's ``request`` line, so one line per
    refusal says it all, however hard a number or network is hammered."""
    if isinstance(exc, RateLimited):
        scope.setdefault("state", {})[POLICY_IN_SCOPE] = exc.policy


def method_of(scope: Scope) -> str:
    method = scope.get("method")
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_of(scope: Scope) -> str:
    """The route template Litestar matched (set on the scope by its router)."""
    template = scope.get("path_template")
    if isinstance(template, str) and template:
        return template
    return UNMATCHED


# Statuses a flood repeats (guessing, pumping, scanning, keys tried without one, numbers
# of a country that is not served): sampled per kind of refusal.
SAMPLED_STATUSES = frozenset({401, 403, 404, 429, 503})
REFUSAL_LINES_PER_SECOND = 10


class RefusalLines:
    """Which refusal lines to write: per key, the first ``per_second`` of each second.
    Keys come from closed sets (route templates, statuses, policy and client names), so the
    table stays small."""

    def __init__(self, per_second: int = REFUSAL_LINES_PER_SECOND) -> None:
        self.per_second = per_second
        self._second = 0
        self._written: dict[tuple[Any, ...], int] = {}
        self._suppressed: dict[tuple[Any, ...], int] = {}

    def admit(self, key: tuple[Any, ...], now: float) -> int | None:
        """None: leave this line out. Else write it, with this many left out before it."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._written.clear()
        written = self._written.get(key, 0)
        if written >= self.per_second:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._written[key] = written + 1
        return self._suppressed.pop(key, 0)


class RequestObservability:
    """Wraps an ASGI app; lifespan and websocket traffic pass through untouched."""

    def __init__(self, app: Any, metrics: Metrics, *, skip_log: frozenset[str] = frozenset()):
        self.app = app
        self.metrics = metrics
        # Routes polled by load balancers and Prometheus: counted, but not logged at info.
        self.skip_log = skip_log
        # Bound once, after the app configured logging: the module's lazy proxy would
        # rebuild its logger on every request.
        self.log = log.bind()
        self.refusal_lines = RefusalLines()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        started = time.perf_counter()
        status = 500
        ids = {"request_id": request_id}
        headers = [(REQUEST_ID_HEADER, request_id.encode("ascii"))]
        ours = _OURS_V1
        if str(scope.get("path", "")).startswith("/v2/"):
            twilio_id = "RQ" + (request_id if _OUR_ID.match(request_id) else os.urandom(16).hex())
            ids["twilio_request_id"] = twilio_id
            headers.append((TWILIO_REQUEST_ID_HEADER, twilio_id.encode("ascii")))
            ours = _OURS_V2

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() not in ours),
                    *headers,
                ]
            await send(message)

        self.metrics.http_in_flight.inc()
        # bind/reset rather than the bound_contextvars context manager: a generator-based
        # context manager per request is measurable under a flood.
        tokens = structlog.contextvars.bind_contextvars(**ids)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self.metrics.http_in_flight.dec()
                seconds = time.perf_counter() - started
                route = route_of(scope)
                method = method_of(scope)
                self.metrics.request(method, route, status, seconds)
                if status >= 500:
                    level = logging.WARNING
                elif route in self.skip_log and status < 400:
                    level = logging.DEBUG
                else:
                    level = logging.INFO
                state = scope.get("state", {})
                client = state.get(CLIENT_KEY_IN_SCOPE)
                policy = state.get(POLICY_IN_SCOPE)
                suppressed: int | None = 0
                if status in SAMPLED_STATUSES and (status != 503 or policy is not None):
                    key = (route, status, policy, client)
                    suppressed = self.refusal_lines.admit(key, time.monotonic())
                if suppressed is not None:
                    self._log_line(
                        level, method, route, status, seconds, client, policy, suppressed
                    )
            finally:
                structlog.contextvars.reset_contextvars(**tokens)

    def _log_line(
        self,
        level: int,
        method: str,
        route: str,
        status: int,
        seconds: float,
        client: str | None,
        policy: str | None,
        suppressed: int,
    ) -> None:
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client,
        }
        if policy is not None:
            fields["policy"] = policy
        if suppressed:
            fields["suppressed"] = suppressed  # lines of this kind left out since the last
        self.log.log(level, "request", **fields)
