"""The statistics counters, read for the console's pages.

The event log folds each partition's events into one hash per UTC day
(``otp:{pN}:st:YYYYMMDD``, fields ``hour|metric|client|country|prefix``), and refusals into
``otp:{pN|g}:rf:YYYYMMDD`` (fields ``minute|client|policy|country``, the minute since the
epoch). A page adds them up.

A week of a busy service is hundreds of thousands of fields: a read-only script
(lua/sum_day.lua) adds a day's fields up inside Redis, so only the sums travel, and the
console keeps the sums of days that can no longer change: a day is final once every
partition's fold cursor has passed its end. Today (and any day not yet final) is added up
again only in the partitions whose fold cursor moved since the last view.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from importlib import resources
from typing import Any

from redis.exceptions import RedisError

from otpservice.errors import StorageUnavailable
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
PARTS = tuple(range(keys.PARTITIONS))
REFUSAL_STREAMS: tuple[int | str, ...] = (*PARTS, "g")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def utc_day(ms: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(ms / 1000))


class DaySums:
    """One UTC day, summed over the partitions and over clients, countries and prefixes."""

    def __init__(self) -> None:
        self.hourly: Counter[tuple[int, str]] = Counter()  # (hour start ms, metric)
        self.refusals: Counter[tuple[int, str]] = Counter()  # (hour start ms, policy)

    @staticmethod
    def _add(into: Counter[tuple[int, str]], first_ms: int, flat: list[Any]) -> None:
        """``flat``: hour|name, n pairs; hours counted from ``first_ms``."""
        for i in range(0, len(flat), 2):
            hour, _, name = _text(flat[i]).partition("|")
            into[(first_ms + int(hour) * HOUR_MS, name)] += int(flat[i + 1])


class Counters:
    """Reads and sums the counters; one per app (the console's data module holds it)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._final: dict[int, DaySums] = {}  # day start ms -> sums of a day that is final
        # (partition, day start) -> (its fold cursor then, its sums): days not yet final
        self._partial: dict[tuple[int, int], tuple[str, list[Any]]] = {}
        source = (resources.files("otpservice.console") / "lua" / "sum_day.lua").read_text()
        self._sum = redis.register_script(source)

    def _sums(self, key: str, mode: str, first_hour: int = 0) -> Any:
        return self._sum(keys=[key], args=[mode, first_hour])

    async def _bounded(self, call: Any) -> Any:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT * 2):
                return await call
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc

    async def _folded_until(self, now_ms: int) -> int:
        """The time up to which every partition's events are in the counters (ms)."""

        async def one(part: int) -> int:
            cursor = await self.redis.get(keys.stats_cursor(part))
            newest = await self.redis.xrevrange(keys.event_stream(part), "+", "-", count=1)
            if not newest:
                return now_ms  # no event at all: nothing to fold
            if cursor is None:
                return 0
            folded, last = _id(_text(cursor)), _id(_text(newest[0][0]))
            return now_ms if folded >= last else folded[0]

        reached: list[int] = await self._bounded(asyncio.gather(*(one(p) for p in PARTS)))
        return min(reached)

    async def kept(self) -> bool:
        """Whether anything keeps the counters (a fold cursor exists in some partition)."""
        found = await self._bounded(
            asyncio.gather(*(self.redis.exists(keys.stats_cursor(p)) for p in PARTS))
        )
        return any(found)

    async def _partition_day(self, part: int, day_start: int, cursor: str | None) -> list[Any]:
        """A partition's sums for a day; again only if its fold cursor moved since (the fold
        writes the counters and moves the cursor in one script, so an unmoved cursor means
        unchanged counters)."""
        known = self._partial.get((part, day_start))
        if cursor is not None and known is not None and known[0] == cursor:
            return known[1]
        flat: list[Any] = await self._sums(keys.stats_day(part, utc_day(day_start)), "hourly")
        if cursor is not None:
            self._partial[(part, day_start)] = (cursor, flat)
        return flat

    async def _read_day(self, day_start: int) -> DaySums:
        day = utc_day(day_start)
        cursors = await self._bounded(
            asyncio.gather(*(self.redis.get(keys.stats_cursor(p)) for p in PARTS))
        )
        replies = await self._bounded(
            asyncio.gather(
                *(
                    self._partition_day(p, day_start, None if c is None else _text(c))
                    for p, c in zip(PARTS, cursors, strict=True)
                ),
                *(self._sums(keys.refusals_day(p, day), "refusals") for p in REFUSAL_STREAMS),
            )
        )
        sums = DaySums()
        for i, flat in enumerate(replies):
            if i < len(PARTS):
                sums._add(sums.hourly, day_start, flat)  # hours of the day
            else:
                sums._add(sums.refusals, 0, flat)  # hours since the epoch (always re-read)
        return sums

    async def days(self, since_ms: int, now_ms: int) -> list[DaySums]:
        """The sums of every UTC day from ``since_ms``'s to today's."""
        first = since_ms // DAY_MS * DAY_MS
        starts = list(range(first, now_ms // DAY_MS * DAY_MS + 1, DAY_MS))
        missing = any(s not in self._final for s in starts)
        folded = await self._folded_until(now_ms) if missing else 0
        out = []
        for start in starts:
            cached = self._final.get(start)
            if cached is None:
                cached = await self._read_day(start)
                if folded >= start + DAY_MS:
                    self._final[start] = cached
            out.append(cached)
        for old in [s for s in self._final if s < first - DAY_MS]:
            del self._final[old]
        for key in [k for k in self._partial if k[1] in self._final or k[1] < first]:
            del self._partial[key]
        return out

    async def areas(self, since_ms: int, now_ms: int) -> dict[tuple[str, str], Counter[str]]:
        """(``country`` or ``prefix``, its key) -> metric -> n, for the hours from
        ``since_ms``'s on. Read afresh: a page of countries wants every prefix."""
        first = since_ms // DAY_MS * DAY_MS
        first_hour = since_ms // HOUR_MS * HOUR_MS
        out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for start in range(first, now_ms // DAY_MS * DAY_MS + 1, DAY_MS):
            day = utc_day(start)
            hour_index = max(0, (first_hour - start) // HOUR_MS)
            replies = await self._bounded(
                asyncio.gather(
                    *(self._sums(keys.stats_day(p, day), "areas", hour_index) for p in PARTS)
                )
            )
            for flat in replies:
                for i in range(0, len(flat), 2):
                    kind, key, metric = _text(flat[i]).split("|", 2)
                    area = ("country" if kind == "c" else "prefix", key)
                    out[area][metric] += int(flat[i + 1])
        return out


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
