"""Faults (``/_admin/faults``) around the provider paths: the simulator's app is Litestar
with this switchboard in front, outside Litestar's exception handling so that ``reset`` can
really abort the connection.

Which faults still process the request (and so may deliver the SMS, as a real provider might
before failing to answer): ``latency`` (then answers normally), ``hang`` (then sleeps 60 s),
``malformed_json`` (answer truncated), ``reset`` (answer cut off mid-body). ``http_5xx`` and
``html`` answer before processing, like a gateway or maintenance page would.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx
from litestar import Litestar
from litestar.types import Message, Receive, Scope, Send

from .state import SimulatorState

API_PREFIX: Final = "/api/v3/"
HANG_SECONDS: Final = 60.0


class SimulatedReset(httpx.RemoteProtocolError):
    """Raised after a partial answer: uvicorn aborts the socket, and in-process
    (``httpx.ASGITransport``) it surfaces as the transport error httpx would raise."""


class SimulatorApp(Litestar):
    """Litestar with the fault switchboard in front of the provider paths."""

    sim_state: SimulatorState

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await super().__call__(scope, receive, send)
            return
        self.sim_state.provider_requests += 1
        receive, api_key = await _peek_api_key(scope, receive)
        fault = self.sim_state.faults_for(api_key).take()
        mode = fault.mode
        if mode == "latency":
            await asyncio.sleep(max(0, fault.latency_ms) / 1000)
        if mode in ("none", "latency"):
            await super().__call__(scope, receive, send)
            return
        if mode.startswith("http_5"):
            status = int(mode.removeprefix("http_"))
            page = f"<html><head><title>{status}</title></head><body><center><h1>{status}"
            page += "</h1></center><hr><center>nginx</center></body></html>\n"
            await _send_whole(send, status, "text/html", page.encode())
            return
        if mode == "html":
            page = (
                "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                "<body><p>Checking your browser before accessing the site.</p></body></html>"
            )
            await _send_whole(send, 200, "text/html; charset=UTF-8", page.encode())
            return
        status, headers, body = await self._capture(scope, receive)
        if mode == "hang":
            await asyncio.sleep(HANG_SECONDS)
            await _send_raw(send, status, headers, body)
        elif mode == "malformed_json":
            await _send_whole(send, 200, "application/json", body[: max(1, len(body) // 2)])
        elif mode == "reset":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 3], "more_body": True}
            )
            raise SimulatedReset("simulator reset the connection")
        else:  # an unknown mode cannot be set through the admin API; answer normally
            await _send_raw(send, status, headers, body)

    async def _capture(self, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
        """Run the request through Litestar and keep the answer instead of sending it."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await super().__call__(scope, receive, keep)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start["status"], list(start.get("headers", [])), body


async def _peek_api_key(scope: Scope, receive: Receive) -> tuple[Receive, str | None]:
    """The request's ``api_key`` (query, JSON or form body), and a ``receive`` that replays
    the body read to find it: faults can then be set per account."""
    chunks: list[Any] = []  # what ``receive`` gave: request events, maybe a disconnect
    while True:
        message = await receive()
        chunks.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in chunks if m["type"] == "http.request")

    async def replay() -> Any:
        return chunks.pop(0) if chunks else await receive()

    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    key = query.get("api_key")
    if key is None and body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            data = dict(parse_qsl(body.decode("utf-8", "replace")))
        if isinstance(data, dict) and isinstance(data.get("api_key"), str):
            key = data["api_key"]
    return replay, key


async def _send_raw(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_whole(send: Send, status: int, media_type: str, body: bytes) -> None:
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await _send_raw(send, status, headers, body)
