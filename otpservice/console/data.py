"""What the console shows, read in-process from the service's own parts. The pages know only
these records; when a part changes its interface, this is the one file to follow it (the
overview's windows and charts are sums of the statistics' counters: windows.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections import Counter
from typing import Any

import msgspec
import structlog
from redis.exceptions import RedisError

from otpservice.console import events_view
from otpservice.console.counters import HOUR_MS, Counters
from otpservice.console.events_view import EventPage, EventRow, as_text, detail_of, event_row
from otpservice.console.policy_form import PolicyField, change_policy, policy_fields
from otpservice.console.windows import (
    WINDOW_HOURS,
    WindowStats,
    overview_charts,
    ratio,
    window_stats,
)
from otpservice.errors import InvalidRequest, StorageUnavailable
from otpservice.providers.breaker import breaker_key
from otpservice.providers.routing import Router
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT

log = structlog.get_logger("otpservice.console")

LIVE_FIRST_PAGE = 50  # events shown when the Live page opens
LIVE_BATCH = 200  # at most this many new events per stream per poll
HISTORY_LIMIT = 500
# The streams: one per partition, and the shared one ("g").
STREAMS: tuple[int | str, ...] = (*range(keys.PARTITIONS), "g")
HEX = frozenset("0123456789abcdef")
ALERT_TYPES = frozenset(
    {
        "prefix.blocked",
        "guard.blocked",
        "guard.unblocked",
        "guard.country_alert",
        "budget.exhausted",
        "provider.breaker_opened",
        "provider.breaker_closed",
        "provider.balance_low",
        "policy.changed",
    }
)
ALERT_SCAN = 500  # the shared stream's latest entries looked at for alerts
ALERTS_SHOWN = 10
PREFIXES_SHOWN = 100
POLICY_GROUPS = ("budgets", "lists", "fraud guard", "delays")
POLICY_CHOICES = {"OTP_GUARD_MODE": ("", "off", "monitor", "enforce")}
# A window is its last N clock hours, the current one included.

BALANCE_CACHE_SECONDS = 60.0  # a page view is no reason to call the provider
BALANCE_TIMEOUT_SECONDS = 3.0


class BalanceRow(msgspec.Struct, frozen=True):
    account: str
    local_sms: int | None
    international_tl: float | None
    low: bool
    error: str | None = None


class BreakerRow(msgspec.Struct, frozen=True):
    provider: str
    state: str  # closed | open | half_open


class Overview(msgspec.Struct, frozen=True):
    balances: list[BalanceRow]
    breakers: list[BreakerRow]
    waiting: list[str]  # parts of the page whose data source has not landed
    alerts: list[EventRow] = msgspec.field(default_factory=list)
    windows: list[WindowStats] = msgspec.field(default_factory=list)
    charts: dict[str, Any] = msgspec.field(default_factory=dict)  # Chart.js specs, by canvas


class AreaRow(msgspec.Struct, frozen=True):
    key: str  # ISO country or number prefix
    started: int
    approved: int
    parts: int
    conversion: float | None


class Geography(msgspec.Struct, frozen=True):
    countries: list[AreaRow]
    prefixes: list[AreaRow]
    max_started: int
    max_prefix_started: int
    waiting: str = ""


class BlockRow(msgspec.Struct, frozen=True):
    kind: str  # prefix | country
    subject: str
    until: str
    reason: str
    evidence: str


class ConsoleData:
    """One per app (on ``app.state``); holds the small caches the pages share."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._balances: tuple[float, list[BalanceRow]] | None = None
        self._balance_lock = asyncio.Lock()
        self._counter_reader: Counters | None = None

    async def balances(self) -> list[BalanceRow]:
        """Each provider account's balance (Turkey SMS accounts; send hooks have none)."""
        async with self._balance_lock:
            now = time.monotonic()
            if self._balances and now - self._balances[0] < BALANCE_CACHE_SECONDS:
                return self._balances[1]
            gateway = self.state.gateway
            if isinstance(gateway, Router):
                accounts = [
                    (name, provider, provider.low_balance_sms)
                    for name, provider in gateway.providers.items()
                    if provider.kind == "turkeysms"
                ]
            else:
                accounts = [("provider", gateway, self.state.settings.low_balance_sms)]
            rows = list(await asyncio.gather(*(self._balance(*a) for a in accounts)))
            self._balances = (now, rows)
            return rows

    async def _balance(self, account: str, gateway: Any, low: int) -> BalanceRow:
        try:
            async with asyncio.timeout(BALANCE_TIMEOUT_SECONDS):
                balance = await gateway.balance()
        except Exception as exc:  # shown on the page as the error's code, never its text
            code = str(getattr(exc, "code", type(exc).__name__))
            log.warning("console.balance_failed", account=account, error=code)
            return BalanceRow(account, None, None, low=False, error=code)
        return BalanceRow(
            account, balance.local_sms, balance.international_tl, low=balance.local_sms <= low
        )

    async def alerts(self) -> list[EventRow]:
        """The latest alerts of the shared stream: blocks, budgets, breakers, balance."""
        redis = self.state.store.redis
        entries = await self._bounded(
            redis.xrevrange(keys.event_stream("g"), "+", "-", count=ALERT_SCAN)
        )
        rows = [event_row("g", entry_id, fields) for entry_id, fields in entries]
        return [r for r in rows if r.type in ALERT_TYPES][:ALERTS_SHOWN]

    async def breakers(self) -> list[BreakerRow]:
        """Each provider's breaker as Redis holds it (shared by every instance)."""
        gateway = self.state.gateway
        if not isinstance(gateway, Router):
            return []
        names = list(gateway.providers)
        if gateway.breakers is None or not gateway.breakers.enabled:
            return [BreakerRow(name, "off") for name in names]
        redis = self.state.store.redis
        states = await self._bounded(
            asyncio.gather(*(redis.hmget(breaker_key(n), "st", "until") for n in names))
        )
        now_ms = time.time() * 1000
        rows = []
        for name, (state, until) in zip(names, states, strict=True):
            shown = as_text(state) if state is not None else "closed"
            if shown == "half":
                shown = "half_open"
            elif shown == "open" and until is not None and float(as_text(until)) <= now_ms:
                shown = "half_open"  # cooled off: the next send is the probe
            rows.append(BreakerRow(name, shown))
        return rows

    def _counters(self) -> Counters:
        redis = self.state.store.redis
        if self._counter_reader is None or self._counter_reader.redis is not redis:
            self._counter_reader = Counters(redis)
        return self._counter_reader

    async def _window_stats(self) -> tuple[list[WindowStats], dict[str, Any], list[str]]:
        now_ms = int(time.time() * 1000)
        hour = now_ms // HOUR_MS * HOUR_MS
        since = hour - (WINDOW_HOURS["week"] - 1) * HOUR_MS
        hourly: Counter[tuple[int, str]] = Counter()
        refusals: Counter[tuple[int, str]] = Counter()
        for day in await self._counters().days(since, now_ms):
            hourly.update(day.hourly)
            refusals.update(day.refusals)
        windows = [
            window_stats(name, hour - (n - 1) * HOUR_MS, hourly, refusals)
            for name, n in WINDOW_HOURS.items()
        ]
        waiting = [] if await self._counters().kept() else ["statistics (none folded yet)"]
        return windows, overview_charts(hour, hourly, windows), waiting

    async def warm(self) -> None:
        await self._window_stats()

    async def overview(self) -> Overview:
        windows, charts, waiting = await self._window_stats()
        return Overview(
            balances=await self.balances(),
            breakers=await self.breakers(),
            alerts=await self.alerts(),
            waiting=waiting,
            windows=windows,
            charts=charts,
        )

    async def geography(self, window: str) -> Geography:
        """Volume and conversion per country and per prefix over the window's hours (the
        prefixes: the busiest PREFIXES_SHOWN)."""
        now_ms = int(time.time() * 1000)
        since = now_ms // HOUR_MS * HOUR_MS - (WINDOW_HOURS[window] - 1) * HOUR_MS
        areas = await self._counters().areas(since, now_ms)

        def rows(kind: str) -> list[AreaRow]:
            found = [
                AreaRow(
                    key=key or "–",
                    started=c["started"],
                    approved=c["approved"],
                    parts=c["parts"],
                    conversion=ratio(c["approved"], c["started"]),
                )
                for (k, key), c in areas.items()
                if k == kind and c["started"]
            ]
            return sorted(found, key=lambda r: (-r.started, r.key))

        countries, prefixes = rows("country"), rows("prefix")[:PREFIXES_SHOWN]
        return Geography(
            countries,
            prefixes,
            max((r.started for r in countries), default=1),
            max((r.started for r in prefixes), default=1),
        )

    async def blocks(self) -> tuple[list[BlockRow], str]:
        """The fraud guard's active blocks with their evidence (guard/store.py)."""
        guard = getattr(self.state, "guard", None)
        if guard is None:
            return [], "The fraud guard is not part of this build."
        now = time.time()
        rows = []
        for block in await guard.blocks():
            evidence = dict(block.evidence)
            until = dt.datetime.fromtimestamp(now + block.expires_in_seconds, tz=dt.UTC)
            reason = (
                f"{evidence.get('approvals', 0)} approvals for {evidence.get('sends', 0)} sends"
                f" within {_duration(evidence.get('window_seconds'))}"
            )
            shown = {k: v for k, v in evidence.items() if k not in {"scope", "prefix", "at"}}
            rows.append(
                BlockRow(
                    kind=block.scope,
                    subject=block.subject,
                    until=until.strftime("%Y-%m-%d %H:%M:%S"),
                    reason=reason,
                    evidence=detail_of(json.dumps(shown)),
                )
            )
        rows.sort(key=lambda r: (r.kind, r.subject))
        return rows, ""

    async def unblock(self, kind: str, subject: str, admin: str) -> bool:
        """Lift a block; the guard's event names the admin key's name. False: none active."""
        guard = getattr(self.state, "guard", None)
        valid = (kind == "prefix" and subject.isdigit() and len(subject) <= 15) or (
            kind == "country" and len(subject) == 2 and subject.isalpha() and subject.isupper()
        )
        if guard is None or not valid:
            raise InvalidRequest("Unblock a prefix (digits) or a country (ISO code).")
        return bool(await guard.unblock(kind, subject, admin, forget=False))

    async def _bounded(self, call: Any) -> Any:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await call
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc

    async def policy(self) -> tuple[list[PolicyField], str]:
        return await policy_fields(getattr(self.state, "policy", None))

    async def change_policy(
        self, admin: str, form: dict[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        return await change_policy(getattr(self.state, "policy", None), admin, form)

    async def live(self, after: str) -> EventPage:
        return await events_view.live(self.state.store.redis, after)

    async def history(self, query: str) -> tuple[str, EventPage]:
        return await events_view.history(self.state.store.redis, self.state.settings, query)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "its window"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
