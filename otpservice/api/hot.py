"""The two requests a flood repeats, answered without the framework's per-request work.

A pumping flood is ``POST /v1/verifications`` refused by a throttle, a guessing flood
``POST /v1/verifications/{id}/check`` of ids that do not exist. Through Litestar each one
paid for routing, a ``Request``, dependency resolution, body extraction and, for the
refusal, the exception middleware building a second ``Request`` and a ``Response``: about
half of a refused request's CPU (bench/profiles). Here a well-formed request for one of the
two routes is read from the raw ASGI scope, decoded with msgspec into the same schema and
passed to the same handler function as the Litestar route (api/v1.py); its answer or its
error is rendered by the same mapping (api/problems.py).

Anything else goes to Litestar unchanged, with whatever body was read handed on exactly as
it arrived: a missing or unknown key (401), a body that is not JSON or does not fit the
schema (400, 415), too large (413) or too slow (408), an Idempotency-Key Litestar would
refuse. So every answer that is not a plain success, refusal or domain error is Litestar's
own, and the OpenAPI document still describes both routes from their Litestar handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from otpservice.api.auth import bearer_key, find_client
from otpservice.api.problems import PROBLEM_JSON, internal_problem, otp_problem
from otpservice.api.schemas import CheckCode, CreateVerification
from otpservice.api.v1 import check_verification, create_verification
from otpservice.config import ClientKey
from otpservice.errors import OtpError, RateLimited
from otpservice.observability.requests import POLICY_IN_SCOPE, note_client

CREATE_PATH = "/v1/verifications"
CHECK_PREFIX = "/v1/verifications/"
CHECK_SUFFIX = "/check"
# The route templates Litestar's router would set: metrics and logs see one route either way.
CREATE_TEMPLATE = "/v1/verifications"
CHECK_TEMPLATE = "/v1/verifications/{verification_id}/check"
MAX_ID_LENGTH = 128  # api/v1.py's VerificationId
MAX_IDEMPOTENCY_KEY = 255
_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")

_create_decoder = msgspec.json.Decoder(CreateVerification)
_check_decoder = msgspec.json.Decoder(CheckCode)
_encoder = msgspec.json.Encoder()
_JSON = b"application/json"

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]


class _Read:
    """What was received of a request so far, to hand on to Litestar unchanged: the messages,
    then the exception receiving raised (a body deadline), if any."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.messages: list[Message] = []
        self.error: BaseException | None = None

    async def body(self, limit: int) -> bytes | None:
        """The whole body, or None when it is not a plain one within ``limit`` bytes."""
        size = 0
        try:
            while True:
                message = await self.receive()
                self.messages.append(message)
                if message["type"] != "http.request":
                    return None
                size += len(message.get("body", b""))
                if size > limit:
                    return None
                if not message.get("more_body", False):
                    break
        except Exception as exc:  # handed on to Litestar, which answers it
            self.error = exc
            return None
        if len(self.messages) == 1:
            return bytes(self.messages[0].get("body", b""))
        return b"".join(m.get("body", b"") for m in self.messages)

    async def replay(self) -> Message:
        if self.messages:
            return self.messages.pop(0)
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return await self.receive()


class _Head:
    """The headers the two routes care about, from one pass over the raw list."""

    __slots__ = ("authorization", "content_type", "idempotency_key", "plain")

    def __init__(self, headers: Any) -> None:
        self.authorization: list[bytes] = []
        self.content_type: list[bytes] = []
        self.idempotency_key: list[bytes] = []
        for name, value in headers:
            if name == b"authorization":
                self.authorization.append(value)
            elif name == b"content-type":
                self.content_type.append(value)
            elif name == b"idempotency-key":
                self.idempotency_key.append(value)

    def client(self, clients: tuple[ClientKey, ...]) -> ClientKey | None:
        """The caller, when exactly one Bearer key names a configured client."""
        if len(self.authorization) != 1:
            return None
        token = bearer_key(self.authorization[0].decode("latin-1"))
        return find_client(clients, token) if token is not None else None

    def is_json(self) -> bool:
        if len(self.content_type) != 1:
            return False
        return self.content_type[0].split(b";", 1)[0].strip().lower() == _JSON

    def idempotency(self) -> tuple[bool, str | None]:
        """(usable here, the key)."""
        if not self.idempotency_key:
            return True, None
        if len(self.idempotency_key) != 1:
            return False, None
        key = self.idempotency_key[0].decode("latin-1")
        return 1 <= len(key) <= MAX_IDEMPOTENCY_KEY, key


class HotRoutes:
    """Wraps the app's ASGI handler (inside admission control and observability)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        verification_id: str | None = None
        if path != CREATE_PATH:
            if not (path.startswith(CHECK_PREFIX) and path.endswith(CHECK_SUFFIX)):
                await self.app(scope, receive, send)
                return
            verification_id = path[len(CHECK_PREFIX) : -len(CHECK_SUFFIX)]
            if not 1 <= len(verification_id) <= MAX_ID_LENGTH or not _ID_CHARS.issuperset(
                verification_id
            ):
                await self.app(scope, receive, send)
                return
        state = scope["app"].state
        head = _Head(scope["headers"])
        client = head.client(state.settings.clients)
        usable, idempotency_key = head.idempotency()
        if client is None or not usable or not head.is_json():
            await self.app(scope, receive, send)
            return
        read = _Read(receive)
        raw = await read.body(state.settings.max_body_bytes)
        data: CreateVerification | CheckCode | None = None
        if raw is not None:
            try:
                if verification_id is None:
                    data = _create_decoder.decode(raw)
                else:
                    data = _check_decoder.decode(raw)
            except Exception:  # malformed: Litestar says how (400)
                data = None
        if data is None:
            await self.app(scope, read.replay, send)
            return
        scope["path_template"] = CHECK_TEMPLATE if verification_id else CREATE_TEMPLATE
        note_client(scope, client.name)
        await self._answer(
            scope, send, state.service, client, data, verification_id, idempotency_key
        )

    @staticmethod
    async def _answer(
        scope: Any,
        send: Any,
        service: Any,
        client: ClientKey,
        data: CreateVerification | CheckCode,
        verification_id: str | None,
        idempotency_key: str | None,
    ) -> None:
        headers: dict[str, str] = {}
        try:
            if isinstance(data, CreateVerification):
                out: Any = await create_verification(service, client, data, idempotency_key)
                status = 201
            else:
                assert verification_id is not None
                out = await check_verification(service, client, verification_id, data)
                status = 200
            media = _JSON
        except OtpError as exc:
            if isinstance(exc, RateLimited):  # the request line names the policy
                scope.setdefault("state", {})[POLICY_IN_SCOPE] = exc.policy
            out, headers = otp_problem(exc)
            status, media = out.status, PROBLEM_JSON.encode()
        except Exception as exc:  # as Litestar's handler for the unexpected
            out = internal_problem(exc)
            status, media = 500, PROBLEM_JSON.encode()
        body = _encoder.encode(out)
        raw_headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
        raw_headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})
