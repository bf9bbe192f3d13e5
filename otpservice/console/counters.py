"""The statistics counters, read for the console's pages.

The event log folds each partition's events into one hash per UTC day
(``otp:{pN}:st:YYYYMMDD``, fields ``hour|metric|client|country|prefix``), and refusals into
``otp:{pN|g}:rf:YYYYMMDD`` (fields ``minute|client|policy|country``). A page adds them up.

A week of a busy service is hundreds of thousands of fields, so the console keeps the sums
of days that can no longer change: a day is final once every partition's fold cursor has
passed its end. Today (and any day not yet final) is read again for every page.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from typing import Any

from redis.exceptions import RedisError

from otpservice.errors import StorageUnavailable
from otpservice.storage import keys
from otpservice.storage.redis_store import OPERATION_TIMEOUT


# The event log's layout of its counters (events/sweeper.py, storage/keys.py there).
def stats_day(part: int, day: str) -> str:
    return f"{keys.ROOT}:{keys.partition_tag(part)}:st:{day}"


def stats_cursor(part: int) -> str:
    return f"{keys.ROOT}:{keys.partition_tag(part)}:stc"


def refusals_day(part: int | str, day: str) -> str:
    return f"{keys.ROOT}:{keys.partition_tag(part)}:rf:{day}"


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

    def add_stats(self, day_start: int, fields: dict[Any, Any]) -> None:
        for raw, raw_n in fields.items():
            hour, metric, _ = _text(raw).split("|", 2)
            self.hourly[(day_start + int(hour) * HOUR_MS, metric)] += int(raw_n)

    def add_refusals(self, day_start: int, fields: dict[Any, Any]) -> None:
        for raw, raw_n in fields.items():
            minute, _client, policy, _country = _text(raw).split("|", 3)
            at = day_start + int(minute) // 60 * HOUR_MS
            self.refusals[(at, policy)] += int(raw_n)


class Counters:
    """Reads and sums the counters; one per app (the console's data module holds it)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._final: dict[int, DaySums] = {}  # day start ms -> sums of a day that is final

    async def _bounded(self, call: Any) -> Any:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT * 2):
                return await call
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc

    async def _folded_until(self, now_ms: int) -> int:
        """The time up to which every partition's events are in the counters (ms)."""

        async def one(part: int) -> int:
            cursor = await self.redis.get(stats_cursor(part))
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
            asyncio.gather(*(self.redis.exists(stats_cursor(p)) for p in PARTS))
        )
        return any(found)

    async def _read_day(self, day_start: int) -> DaySums:
        day = utc_day(day_start)
        stats = self._bounded(
            asyncio.gather(*(self.redis.hgetall(stats_day(p, day)) for p in PARTS))
        )
        refusals = self._bounded(
            asyncio.gather(*(self.redis.hgetall(refusals_day(p, day)) for p in REFUSAL_STREAMS))
        )
        stat_maps, refusal_maps = await asyncio.gather(stats, refusals)
        sums = DaySums()
        for fields in stat_maps:
            sums.add_stats(day_start, fields)
        for fields in refusal_maps:
            sums.add_refusals(day_start, fields)
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
        return out

    async def areas(self, since_ms: int, now_ms: int) -> dict[tuple[str, str], Counter[str]]:
        """(``country`` or ``prefix``, its key) -> metric -> n, for the hours from
        ``since_ms``'s on. Read afresh: a page of countries wants every prefix."""
        first = since_ms // DAY_MS * DAY_MS
        first_hour = since_ms // HOUR_MS * HOUR_MS
        out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for start in range(first, now_ms // DAY_MS * DAY_MS + 1, DAY_MS):
            day = utc_day(start)
            maps = await self._bounded(
                asyncio.gather(*(self.redis.hgetall(stats_day(p, day)) for p in PARTS))
            )
            for fields in maps:
                for raw, raw_n in fields.items():
                    hour, metric, _client, country, prefix = _text(raw).split("|", 4)
                    if start + int(hour) * HOUR_MS < first_hour:
                        continue
                    n = int(raw_n)
                    out[("country", country)][metric] += n
                    out[("prefix", prefix)][metric] += n
        return out


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
