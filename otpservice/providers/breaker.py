"""A circuit breaker per provider, shared by every instance through Redis.

Closed: sends go through; failures and sends are counted in a fixed window. When the
failures reach ``min_failures`` and ``failure_rate`` of the window's sends, the breaker
opens (event ``provider.breaker_opened``): the provider is skipped for the cool-off. Then
the first send to ask becomes the one probe (half-open; the others keep skipping the
provider until the probe's lease runs out); its success closes the breaker (event
``provider.breaker_closed``), its failure opens it again. Both scripts run under the
shared ``{g}`` tag with Redis's clock; the events go into the shared stream in the same call.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from importlib import resources
from typing import Any, Final

import structlog
from redis.exceptions import RedisError

from otpservice.events.scripts import event_prelude
from otpservice.provider_config import BreakerSettings
from otpservice.storage.keys import SHARED, SHARED_EVENTS
from otpservice.storage.scripts import AnyRedis

log = structlog.get_logger("otpservice.breaker")
OPERATION_TIMEOUT: Final = 2.0


class BreakerState(enum.Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


def breaker_key(provider: str) -> str:
    return f"{SHARED}:br:{provider}"


def _source(name: str) -> str:
    """A script with the events prelude prepended, as every script that emits gets it."""
    body = (resources.files("otpservice.providers") / "lua" / f"{name}.lua").read_text("utf-8")
    return event_prelude() + "\n" + body if "emit_event(" in body else body


class Pass:
    """Permission for one send: ``probe`` holds the half-open probe's token."""

    __slots__ = ("allowed", "probe", "wait_seconds")

    def __init__(self, allowed: bool, probe: str = "", wait_seconds: float = 0.0) -> None:
        self.allowed = allowed
        self.probe = probe
        self.wait_seconds = wait_seconds


class Breakers:
    """The breakers of all providers. Redis trouble never blocks a send: the breaker
    then counts as closed (a send is worth more than a skipped provider)."""

    def __init__(self, redis: AnyRedis, settings: BreakerSettings, *, probe_lease: float):
        self.settings = settings
        self._lease_ms = int(probe_lease * 1000)
        self._gate = redis.register_script(_source("breaker_gate"))
        self._record = redis.register_script(_source("breaker_record"))
        self._read = redis.register_script(_source("breaker_read"))

    @property
    def enabled(self) -> bool:
        return self.settings.min_failures > 0

    async def _call(self, script: Any, keys_: list[str], args: list[Any]) -> Any:
        async with asyncio.timeout(OPERATION_TIMEOUT):
            return await script(keys=keys_, args=args)

    async def acquire(self, provider: str) -> Pass:
        if not self.enabled:
            return Pass(True)
        token = secrets.token_hex(8)
        try:
            reply = await self._call(self._gate, [breaker_key(provider)], [token, self._lease_ms])
        except (RedisError, TimeoutError) as exc:
            log.warning("breaker.unavailable", provider=provider, error=type(exc).__name__)
            return Pass(True)
        state = _text(reply[0])
        if state == "closed":
            return Pass(True)
        if state == "probe":
            return Pass(True, probe=token)
        return Pass(False, wait_seconds=float(_text(reply[1])) / 1000)

    async def read(self, provider: str) -> tuple[BreakerState, float]:
        """The breaker as Redis holds it, and the seconds until it lets a probe through."""
        if not self.enabled:
            return BreakerState.CLOSED, 0.0
        reply = await self._call(self._read, [breaker_key(provider)], [])
        state = {"closed": BreakerState.CLOSED, "half": BreakerState.HALF_OPEN}.get(
            _text(reply[0]), BreakerState.OPEN
        )
        return state, float(_text(reply[1])) / 1000

    async def record(
        self, provider: str, passed: Pass, *, ok: bool, result_code: str | None
    ) -> tuple[BreakerState, str]:
        """Count the outcome; returns the state after it and "opened"/"closed"/""."""
        if not self.enabled:
            return BreakerState.CLOSED, ""
        s = self.settings
        try:
            reply = await self._call(
                self._record,
                [breaker_key(provider), SHARED_EVENTS],
                [
                    "ok" if ok else "fail",
                    passed.probe,
                    s.window_seconds * 1000,
                    s.min_failures,
                    repr(s.failure_rate),
                    s.cooloff_seconds * 1000,
                    provider,
                    result_code or "",
                ],
            )
        except (RedisError, TimeoutError) as exc:
            log.warning("breaker.unavailable", provider=provider, error=type(exc).__name__)
            return BreakerState.CLOSED, ""
        state = {"closed": BreakerState.CLOSED, "half": BreakerState.HALF_OPEN}.get(
            _text(reply[0]), BreakerState.OPEN
        )
        return state, _text(reply[1])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
