"""The edge ends a body at its declared Content-Length instead of fetching the server's empty
last message (a round trip between granian's threads and the loop), and still hands the app
what comes after it (a disconnect) as if nothing had been skipped."""

from __future__ import annotations

import asyncio
from typing import Any

from otpservice.api.edge import HttpEdge


class Server:
    """An ASGI server's receive, as granian calls it: the body with ``more_body`` set, then an
    empty last message, then a disconnect once the client goes."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.calls = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        return self.messages.pop(0)


def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "headers": headers}


def run(headers: list[tuple[bytes, bytes]], server: Server, reads: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def app(_scope: Any, receive: Any, _send: Any) -> None:
        for _ in range(reads):
            seen.append(await receive())

    async def send(_message: Any) -> None:
        return None

    asyncio.run(HttpEdge(app, body_timeout=5.0)(scope(headers), server.receive, send))
    return seen


def chunks() -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": b'{"phone":', "more_body": True},
        {"type": "http.request", "body": b'"+905321234567"}', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]


def test_a_body_ends_at_its_content_length_without_the_empty_last_message() -> None:
    server = Server(chunks())
    seen = run([(b"content-length", b"25")], server, reads=2)
    assert [m["body"] for m in seen] == [b'{"phone":', b'"+905321234567"}']
    assert [m["more_body"] for m in seen] == [True, False]
    assert server.calls == 2  # the empty last message was never fetched


def test_reading_on_after_the_body_skips_the_empty_message_and_gets_the_disconnect() -> None:
    server = Server(chunks())
    seen = run([(b"Content-Length", b"25")], server, reads=3)
    assert seen[2] == {"type": "http.disconnect"}
    assert server.calls == 4


def test_a_body_without_a_length_is_passed_on_as_the_server_sends_it() -> None:
    for headers in ([], [(b"transfer-encoding", b"chunked")], [(b"content-length", b"x")]):
        server = Server(chunks())
        seen = run(headers, server, reads=3)
        assert [m.get("more_body") for m in seen] == [True, True, False]
        assert server.calls == 3


def test_a_body_shorter_than_declared_is_not_ended_early() -> None:
    server = Server(chunks())
    seen = run([(b"content-length", b"40")], server, reads=3)
    assert [m.get("more_body") for m in seen] == [True, True, False]
    assert server.calls == 3
