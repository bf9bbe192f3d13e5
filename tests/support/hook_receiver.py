"""An operator's SMS gateway for the HTTP send hook, on a real socket.

It verifies the Standard Webhooks signature with the ``standardwebhooks`` package (as a
receiver would), keeps what it accepted, and answers as told: 200 with a message id, a
given status, or not at all for a while (``hang``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class HookReceiver:
    url: str = ""
    secret: str = HOOK_SECRET
    mode: str = "ok"  # ok | status | hang
    status: int = 200
    hang_seconds: float = 5.0
    accepted: list[dict[str, Any]] = field(default_factory=list)  # verified bodies
    headers: list[dict[str, str]] = field(default_factory=list)
    refused_signatures: int = 0
    requests: int = 0

    def reset(self) -> None:
        self.mode, self.status = "ok", 200
        self.accepted.clear()
        self.headers.clear()
        self.refused_signatures = 0
        self.requests = 0

    def to(self, e164: str) -> list[dict[str, Any]]:
        return [b for b in self.accepted if b["to"] == e164]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests += 1
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.refused_signatures += 1
            await _answer(send, 401, b"{}")
            return
        if self.mode == "hang":
            self.accepted.append(payload)  # took it, then never answers in time
            self.headers.append(headers)
            await asyncio.sleep(self.hang_seconds)
            await _answer(send, 200, b"{}")
            return
        if self.mode == "status" and not 200 <= self.status < 300:
            await _answer(send, self.status, b'{"error": "refused"}')
            return
        self.accepted.append(payload)
        self.headers.append(headers)
        await _answer(send, 200, json.dumps({"message_id": "gw-" + secrets.token_hex(4)}).encode())


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def running_hook_receiver() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        receiver,
        log_level="warning",
        lifespan="off",
        loop="asyncio",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"hook:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("hook receiver did not start")
        time.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}/send"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=2)
        sock.close()
