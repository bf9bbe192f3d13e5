"""Statistics from the counters the sweeper folds (per partition and UTC day, fields
``hour|metric|client|country|prefix``) and the refusal counts the refusing scripts keep
(fields ``minute|client|policy|country``): reading them never scans the event streams.

Counters have the hour as their grain, refusals the minute; ``since``/``until`` select
whole hours of counters."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from typing import Any

from otpservice.events.types import StatsRow
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS, utc_day
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

HOUR_MS = 3_600_000
GROUPS = ("country", "prefix", "client", "hour", "day")
_COUNTERS = ("started", "sent", "parts", "delivered", "approved", "expired", "exhausted")


def _hour_key(at_ms: int) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:00Z")


def _day_key(at_ms: int) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).strftime("%Y-%m-%d")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.refusals: dict[str, int] = defaultdict(int)

    def row(self, key: str) -> StatsRow:
        c = self.counts
        return StatsRow(
            key=key,
            started=c["started"],
            sms_sent=c["sent"],
            sms_parts=c["parts"],
            delivered=c["delivered"],
            approved=c["approved"],
            expired=c["expired"],
            exhausted=c["exhausted"],
            canceled=c["canceled"],
            conversion=round(c["approved"] / c["started"], 4) if c["started"] else None,
            refusals=dict(sorted(self.refusals.items())),
        )


class Statistics:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis

    async def _hgetall(self, names: list[str]) -> list[dict[Any, Any]]:
        """Every hash in one pipeline (on Cluster, one round trip per node)."""
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(name)
        async with asyncio.timeout(OPERATION_TIMEOUT * 2):
            found: list[dict[Any, Any]] = await pipe.execute()
        return found

    async def report(
        self, *, since_ms: int, until_ms: int, group_by: str, client: str | None
    ) -> tuple[list[StatsRow], StatsRow]:
        """Rows by ``group_by`` and the total, for ``client`` (None: every client)."""
        days = range(since_ms // DAY_MS * DAY_MS, until_ms, DAY_MS)
        counter_keys = [keys.stats_day(p, utc_day(d)) for d in days for p in range(keys.PARTITIONS)]
        refusal_keys = [
            keys.refusals_day(p, utc_day(d)) for d in days for p in [*range(keys.PARTITIONS), "g"]
        ]
        counters = await self._hgetall(counter_keys)
        refusals = await self._hgetall(refusal_keys)
        groups: dict[str, Tally] = defaultdict(Tally)
        total = Tally()
        first_hour, last_hour = since_ms // HOUR_MS, (until_ms - 1) // HOUR_MS
        for key, fields in zip(counter_keys, counters, strict=True):
            day_ms = int(
                dt.datetime.strptime(key.rsplit(":", 1)[1], "%Y%m%d")
                .replace(tzinfo=dt.UTC)
                .timestamp()
                * 1000
            )
            for raw, n in fields.items():
                hour, metric, who, country, prefix = _text(raw).split("|", 4)
                at = day_ms + int(hour) * HOUR_MS
                if not first_hour <= at // HOUR_MS <= last_hour:
                    continue
                if client is not None and who != client:
                    continue
                group = _group(group_by, at, who, country, prefix)
                groups[group].counts[metric] += int(n)
                total.counts[metric] += int(n)
        for fields in refusals:
            for raw, n in fields.items():
                minute, who, policy, country = _text(raw).split("|", 3)
                at = int(minute) * 60_000
                if not since_ms <= at < until_ms:
                    continue
                if client is not None and who != client:
                    continue
                # Refusals keep no prefix (a flood over many prefixes would fill memory).
                group = _group(group_by, at, who, country, "")
                groups[group].refusals[policy] += int(n)
                total.refusals[policy] += int(n)
        rows = [groups[k].row(k) for k in sorted(groups)]
        return rows, total.row("total")


def _group(group_by: str, at_ms: int, client: str, country: str, prefix: str) -> str:
    if group_by == "country":
        return country
    if group_by == "prefix":
        return prefix
    if group_by == "client":
        return client
    if group_by == "hour":
        return _hour_key(at_ms)
    return _day_key(at_ms)
