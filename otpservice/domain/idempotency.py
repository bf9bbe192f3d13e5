"""Waiting for the first request of an Idempotency-Key without hammering Redis.

A duplicate that finds its key still in flight must wait for the first request (DECISIONS 8:
up to the longest send), then read the stored answer. Polling Redis every 50 ms made each
waiting duplicate a few dozen Redis calls a second, hundreds with a few duplicates. Now:

* a duplicate on the same instance as the first request waits on an ``asyncio.Event`` that
  the first request sets when it ends, then reads Redis once;
* a duplicate on another instance polls with a growing interval (50 ms, doubling, at most
  1 s), so a wait of the longest send costs about a dozen reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

FIRST_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 1.0

Key = tuple[str, str]  # (client name, Idempotency-Key)


class InFlightKeys:
    """The Idempotency-Keys whose first request runs in this process."""

    def __init__(self) -> None:
        self._done: dict[Key, asyncio.Event] = {}

    @contextlib.contextmanager
    def running(self, key: Key) -> Iterator[None]:
        """Around the request that holds ``key``: its duplicates here wake when it ends."""
        event = asyncio.Event()
        self._done[key] = event
        try:
            yield
        finally:
            event.set()
            if self._done.get(key) is event:
                del self._done[key]

    async def wait(self, key: Key, interval: float, deadline: float) -> float:
        """Wait until the first request ends, if it runs here, or else ``interval`` (never
        past the monotonic ``deadline``); returns the interval to wait next time."""
        left = max(0.0, deadline - time.monotonic())
        event = self._done.get(key)
        if event is None:
            await asyncio.sleep(min(interval, left))
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await event.wait()
        return min(interval * 2, MAX_POLL_SECONDS)
