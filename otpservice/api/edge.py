"""What every HTTP exchange goes through before the app sees it: a body-read deadline and no
``Server`` header.

The server (granian) times out a request's headers and an idle keep-alive connection, but
never a body that stalls: a client that sends ``Content-Length: 100`` and then one byte a
minute would hold a request, a connection and a task for as long as it likes. Here the whole
body must arrive within ``body_timeout`` seconds of the request's start; after that the
request ends with a 408 problem (raised through Litestar, so /v1 and /v2 shape it as usual)
and the server drops the connection, whose body was never finished.

The server names itself in a ``Server`` header unless the app sends one; an empty one names
nothing.

A body whose declared ``Content-Length`` has all arrived ends there: granian hands it over
with ``more_body`` set and then an empty last message, and fetching that one is another
round trip between its threads and the event loop for nothing (a wake-up of each, on every
request). The empty message is still taken, and dropped, if the app reads on (to wait for a
disconnect).
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.exceptions import HTTPException

SERVER_HEADER = b"server"
CONTENT_LENGTH = b"content-length"


class BodyTimeout(HTTPException):
    status_code = 408
    detail = "The request body did not arrive in time."


WATCH_SECONDS = 0.25  # how late past its deadline a stalled body may be cut off


class HttpEdge:
    """Wraps an ASGI app; lifespan and websocket traffic pass through untouched.

    The deadline is kept by one watchdog task rather than a timer per read: an
    ``asyncio.timeout`` around every body read cost a refused request ~5 % of its CPU
    (bench/), while the watchdog costs a dictionary entry per read. It sleeps until the
    earliest deadline of the bodies being read (a body read that started later with an
    earlier deadline, after a wait for admission, wakes it sooner only if it would be cut
    off more than ``WATCH_SECONDS`` late), so under steady traffic it wakes about once per
    ``body_timeout``, not four times a second: each wake-up of the event loop is a cold
    start under argon2's memory traffic (bench/NOTES.md)."""

    def __init__(self, app: Any, *, body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._wake_at = 0.0  # when the watchdog looks next

    def _watch_until(self, deadline: float) -> None:
        """Have the watchdog look by ``deadline`` (or at most WATCH_SECONDS after it)."""
        if self._watchdog is not None:
            if deadline >= self._wake_at - WATCH_SECONDS:
                return
            self._watchdog.cancel()
        self._wake_at = deadline
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        try:
            while self._reading:
                await asyncio.sleep(max(self._wake_at - loop.time(), 0.0))
                now = loop.time()
                pending = []
                for task, deadline in list(self._reading.items()):
                    if task in self._expired:
                        continue
                    if now >= deadline:
                        self._expired.add(task)
                        task.cancel()
                    else:
                        pending.append(deadline)
                # A cancelled reader leaves the table once it runs: look again soon.
                self._wake_at = min(pending) if pending else now + WATCH_SECONDS
        finally:
            if self._watchdog is me:  # not a watchdog replaced by an earlier deadline's
                self._watchdog = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        body_done = False
        received = 0
        tail_owed = False  # the body ended at its length; the server's empty last message waits

        async def receive_in_time() -> Any:
            nonlocal body_done, received, tail_owed
            if body_done:  # later calls wait for a disconnect: no deadline on those
                message = await receive()
                if tail_owed:
                    tail_owed = False
                    if message["type"] == "http.request" and not message.get("body"):
                        message = await receive()
                return message
            task = asyncio.current_task()
            assert task is not None
            self._reading[task] = deadline
            self._watch_until(deadline)
            try:
                message = await receive()
            except asyncio.CancelledError:
                # The watchdog's cancel arrives here even when the body came in the same
                # tick (a cancelled task wakes with the error): past the deadline is late.
                if task not in self._expired:
                    raise
                self._expired.discard(task)
                task.uncancel()
                raise BodyTimeout(headers={"Connection": "close"}) from None
            finally:
                self._reading.pop(task, None)
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
                return message
            received += len(message.get("body", b""))
            if received == _declared_length(scope):
                body_done = tail_owed = True
                return {**message, "more_body": False}
            return message

        async def send_anonymously(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() != SERVER_HEADER),
                    (SERVER_HEADER, b""),
                ]
            await send(message)

        await self.app(scope, receive_in_time, send_anonymously)


def _declared_length(scope: Any) -> int | None:
    """The request's Content-Length, or None (none, chunked, or not a number)."""
    length = None
    for name, value in scope.get("headers", ()):
        if name.lower() == b"transfer-encoding":
            return None
        if name.lower() == CONTENT_LENGTH:
            length = value
    if length is None or not length.isdigit():
        return None
    return int(length)
