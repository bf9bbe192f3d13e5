"""The event log's upkeep, run by every instance: whichever notices first does the work, and
each step is one script that claims it, so running it on several instances is safe.

- Expiry: each partition keeps its verifications in an index by expiry time (phone_commit
  adds them); a due one is claimed by ZREM inside expire_one.lua, which records
  ``verification.expired`` only if it was still pending. Exactly once, within about one
  sweep interval of the expiry, with no keyspace notifications.
- Statistics: stats_fold.lua folds each partition's new events into per-day counters and
  moves its cursor in the same step (exactly once), so /v1/stats never scans streams.
- Retention: streams are trimmed by time (XTRIM MINID), never by count, so a flood cannot
  push recent history out; counters and refusal counts expire with the same retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from otpservice.domain.models import VerificationRef
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS, utc_day
from otpservice.storage.record import text
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis, load_script_source

log = structlog.get_logger("otpservice.events.sweeper")

EXPIRE_BATCH = 200
FOLD_BATCH = 500
TRIM_EVERY_SECONDS = 60.0


class EventMetrics:
    """The statistics as Prometheus counters, counted when folded (each event once, by the
    instance that folds it: sum over instances). Country is a label; prefix is not (too many)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counted = Counter(
            "otp_verification_events",
            "Verification events by statistic (started, sent, parts, delivered, approved, "
            "expired, exhausted, canceled, send_failed, wrong_code) and country.",
            ["metric", "country"],
            registry=registry,
        )
        self.expired = Counter(
            "otp_expiry_sweeps",
            "Verifications the expiry sweep claimed, by outcome (expired, ended, later).",
            ["outcome"],
            registry=registry,
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


class Sweeper:
    def __init__(
        self,
        redis: AnyRedis,
        *,
        history_days: int,
        every_seconds: float,
        metrics: EventMetrics | None = None,
        events: bool = True,
    ) -> None:
        self.redis = redis
        self.history_ms = history_days * DAY_MS
        self.every_seconds = every_seconds
        self.metrics = metrics
        self.events = events
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(
                load_script_source(name, package="otpservice.events", events=events)
            )
            for name in ("expire_one", "stats_fold")
        }
        self._task: asyncio.Task[None] | None = None
        self._next_trim = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except (RedisError, TimeoutError) as exc:
                # Redis is down or slow: the next round catches up (nothing is lost).
                log.warning("events.sweep_failed", error=type(exc).__name__)
            await asyncio.sleep(self.every_seconds)

    async def sweep(self) -> None:
        """One round over every partition: expiries, then folding, then (now and then) trims.

        With events off (OTP_EVENTS=0) the streams get nothing new, so there is nothing to
        fold; expiries still run (they end pending records and empty the expiry index) and
        trims too (events of an earlier run keep their retention)."""
        # Every partition's first batch of due expiries in one round trip: a sweep is then
        # one wake-up of the loop, not sixteen, when nothing is due (bench/NOTES.md).
        firsts = await self._due_everywhere()
        for part in range(keys.PARTITIONS):
            await self.expire_due(part, firsts[part])
            if self.events:
                await self.fold(part)
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + TRIM_EVERY_SECONDS
            await self.trim()

    async def _script(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        async with asyncio.timeout(OPERATION_TIMEOUT):
            return await self._scripts[name](keys=keys_, args=args)

    async def _due_everywhere(self) -> list[list[Any]]:
        now = _now_ms()
        async with asyncio.timeout(OPERATION_TIMEOUT):
            async with self.redis.pipeline(transaction=False) as pipe:
                for part in range(keys.PARTITIONS):
                    pipe.zrange(
                        keys.expiry_index(part),
                        "-inf",
                        now,
                        byscore=True,
                        offset=0,
                        num=EXPIRE_BATCH,
                    )
                return list(await pipe.execute())

    async def expire_due(self, part: int, first: list[Any] | None = None) -> int:
        """Claim and record the partition's due expiries; returns how many were recorded.
        ``first``: its first batch, when the caller has read it already."""
        index = keys.expiry_index(part)
        recorded = 0
        while True:
            if first is not None:
                due, first = first, None
            else:
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    due = await self.redis.zrange(
                        index, "-inf", _now_ms(), byscore=True, offset=0, num=EXPIRE_BATCH
                    )
            for raw in due:
                head = text(raw)
                ref = VerificationRef(head[:16], head[16:32], "")
                outcome = text(
                    await self._script(
                        "expire_one",
                        [index, keys.verification(ref), keys.event_stream(part)],
                        [head],
                    )
                )
                recorded += outcome == "expired"
                if self.metrics is not None and outcome != "gone":
                    self.metrics.expired.labels(outcome).inc()
            if len(due) < EXPIRE_BATCH:
                return recorded

    async def fold(self, part: int) -> int:
        """Fold the partition's new events into its per-day counters; returns how many."""
        folded = 0
        day_start = _now_ms() // DAY_MS * DAY_MS
        for _ in range(1000):  # bounded: a long backlog continues next round
            ttl = day_start + DAY_MS + self.history_ms - _now_ms()
            reply = await self._script(
                "stats_fold",
                [
                    keys.event_stream(part),
                    keys.stats_cursor(part),
                    keys.stats_day(part, utc_day(day_start)),
                ],
                [day_start, day_start + DAY_MS, FOLD_BATCH, max(ttl, 1000)],
            )
            kind, outside, count = text(reply[0]), text(reply[1]), int(reply[2])
            folded += count
            self._count(reply[3:])
            if kind == "done" and count < FOLD_BATCH:
                return folded
            if kind == "day":
                day_start = int(outside) // DAY_MS * DAY_MS
        return folded

    def _count(self, flat: list[Any]) -> None:
        if self.metrics is None:
            return
        for i in range(0, len(flat) - 2, 3):
            metric, country, n = text(flat[i]), text(flat[i + 1]), int(flat[i + 2])
            self.metrics.counted.labels(metric, country).inc(n)

    async def trim(self) -> None:
        """Drop events older than the retention from every stream."""
        oldest = f"{_now_ms() - self.history_ms}-0"
        for part in [*range(keys.PARTITIONS), "g"]:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await self.redis.xtrim(keys.event_stream(part), minid=oldest, approximate=False)
