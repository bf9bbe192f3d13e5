"""Refusals decided before any Redis script runs — a country or a number prefix not
allowed, a check of an id that cannot exist — counted like the ones the refusing scripts
count (events.lua's ``count_refusal``), in the same per-day hashes with the same retention,
so that /v1/stats shows them too.

Best effort, and never on the request's path: ``note`` adds one to a table in process, and
one script a second (events/lua/refusal_counts.lua, one key under ``{g}``) writes the
table. A flood of refusals costs a dict increment each and one script call a second per
instance, never a round trip, a task or a wait per refusal; with Redis down the refusals
are still answered at once. The table's keys are client, policy and country — closed sets —
so it stays small however many requests are refused. A write that fails is dropped and
counted in ``otp_refusal_counts_lost_total`` (its minute has passed by the next write
anyway). The minute is Redis's clock at the write: up to a second after the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError

from otpservice.events.scripts import register
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS, refusals_ttl_ms, utc_day
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

log = structlog.get_logger("otpservice.events.refusals")

FLUSH_SECONDS = 1.0


class RefusalCounts:
    """Implements the domain's RefusalCounter port. ``enabled=False`` (OTP_EVENTS=0) counts
    nothing, as the scripts' count_refusal does nothing then."""

    def __init__(
        self,
        redis: AnyRedis,
        *,
        history_days: int,
        enabled: bool = True,
        registry: CollectorRegistry | None = None,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.enabled = enabled
        self.history_ms = history_days * DAY_MS
        self.flush_seconds = flush_seconds
        self._script = register(redis, "refusal_counts")["refusal_counts"]
        self._pending: dict[tuple[str, str, str], int] = {}
        # At most one timer or one write at a time, however many refusals arrive.
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._closed = False
        self.lost = Counter(
            "otp_refusal_counts_lost",
            "Refusals decided before Redis whose count could not be written to the statistics "
            "(Redis unavailable); otp_refusals still counts them.",
            # Its own registry when none is given: apps built side by side (tests) share none.
            registry=registry if registry is not None else CollectorRegistry(auto_describe=True),
        )

    def note(self, client: str, policy: str, country: str) -> None:
        if not self.enabled or self._closed:
            return
        key = (client, policy, country)
        self._pending[key] = self._pending.get(key, 0) + 1
        if self._timer is None and self._writing is None:
            self._arm()

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.flush_seconds, self._write_soon)

    def _write_soon(self) -> None:
        self._timer = None
        self._writing = asyncio.ensure_future(self._write_then_rearm())

    async def _write_then_rearm(self) -> None:
        try:
            await self.flush()
        finally:
            self._writing = None
            if self._pending and not self._closed:
                self._arm()  # what arrived during the write: the next second's

    async def flush(self) -> int:
        """Write what is pending in one script call; returns how many refusals it carried
        (0 when there were none, or the write failed and they were dropped)."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        args: list[str | int] = [refusals_ttl_ms(self.history_ms)]
        for (client, policy, country), n in batch.items():
            args += [client, policy, country, n]
        day = utc_day(int(time.time() * 1000))
        carried = sum(batch.values())
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await self._script(keys=[keys.refusals_day("g", day)], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self.lost.inc(carried)
            log.warning("refusals.count_lost", refusals=carried, error=type(exc).__name__)
            return 0
        return carried

    async def close(self) -> None:
        """At shutdown: write what is pending, then count nothing more."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writing
        await self.flush()
