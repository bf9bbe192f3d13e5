"""Reading the event log: newest first over every stream, or one partition's stream when a
phone or a verification id names it. Client-scoped: a client sees only its own events.

A history by phone or id scans its partition's stream (1/16 of the log) from ``until``
back to ``since``; the phone's keyed tag is the first 16 hex digits of every verification
id, so no event needs to hold the number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
from collections.abc import AsyncIterator, Callable
from typing import Any

from otpservice.events.streams import StreamEvent, parse_entry
from otpservice.events.types import EventOut
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

BATCH = 500
PARTS: list[int | str] = [*range(keys.PARTITIONS), "g"]


def _order(part: int | str) -> int:
    return keys.PARTITIONS if part == "g" else int(part)


def iso_ms(at_ms: int) -> str:
    at = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at_ms % 1000:03d}Z"


def event_out(e: StreamEvent) -> EventOut:
    return EventOut(
        id=e.id,
        type=e.type,
        time=iso_ms(e.at_ms),
        client=e.client or None,
        verification_id=e.verification_id or None,
        country=e.country or None,
        prefix=e.prefix or None,
        phone=e.phone or None,
        data=e.data,
    )


class Cursor:
    """A position in the merged log: the last event returned (its public id)."""

    def __init__(self, part: int | str, ms: int, seq: int) -> None:
        self.part, self.ms, self.seq = part, ms, seq

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        try:
            _, part, entry = text.split("_", 2)
            ms, seq = entry.split("-")
            parsed: int | str = "g" if part == "g" else int(part)
            if parsed != "g" and not 0 <= int(parsed) < keys.PARTITIONS:
                return None
            return cls(parsed, int(ms), int(seq))
        except ValueError:
            return None

    def end_for(self, part: int | str) -> str:
        """XREVRANGE's end in ``part``'s stream: strictly older than the cursor in the merged
        order (time, then partition)."""
        entry = f"{self.ms}-{self.seq}"
        return entry if _order(part) < _order(self.part) else f"({entry}"


class EventHistory:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis

    async def _stream(self, part: int | str, end: str, since_ms: int) -> AsyncIterator[StreamEvent]:
        stream = keys.event_stream(part)
        while True:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                reply = await self.redis.xrevrange(
                    stream, max=end, min=f"{since_ms}-0", count=BATCH
                )
            batch: list[Any] = list(reply or [])
            for entry_id, fields in batch:
                yield parse_entry(stream, entry_id, fields)
            if len(batch) < BATCH:
                return
            last = batch[-1][0]
            end = "(" + (last.decode() if isinstance(last, bytes) else str(last))

    async def page(
        self,
        *,
        keep: Callable[[StreamEvent], bool],
        parts: list[int | str],
        since_ms: int,
        until_ms: int,
        limit: int,
        cursor: Cursor | None,
    ) -> tuple[list[StreamEvent], str | None]:
        """Up to ``limit`` events that ``keep`` accepts, newest first, and the next cursor."""
        iters = {
            part: self._stream(part, cursor.end_for(part) if cursor else str(until_ms), since_ms)
            for part in parts
        }
        heap: list[tuple[int, int, int, int | str, StreamEvent]] = []

        async def pull(part: int | str) -> None:
            event = await anext(iters[part], None)
            if event is not None:
                ms, seq = (int(x) for x in event.entry_id.split("-"))
                heapq.heappush(heap, (-ms, -seq, -_order(part), part, event))

        await asyncio.gather(*(pull(part) for part in parts))
        found: list[StreamEvent] = []
        while heap and len(found) <= limit:
            *_, part, event = heapq.heappop(heap)
            if keep(event):
                found.append(event)
            await pull(part)
        if len(found) > limit:
            return found[:limit], found[limit - 1].id
        return found, None
