"""Per-endpoint delivery state in Redis, under {g}: the backlog and retry schedule (a ZSET of
due times), the bodies, attempt counts, dead letters and the disabled flag. Every change is
one script (events/lua/wh_*.lua), so a restart of every instance loses nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from redis.exceptions import RedisError

from otpservice.errors import StorageUnavailable
from otpservice.events.scripts import register
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis
from otpservice.webhooks_config import WebhookEndpoint, WebhookSettings

SCRIPTS = ("wh_enqueue", "wh_take", "wh_result", "wh_resend", "wh_dead_list")


def endpoint_keys(endpoint_id: str) -> list[str]:
    """q, dz, b, m, st of one endpoint (the order of webhooks.lua's KEYS)."""
    base = f"{keys.SHARED}:wh:{endpoint_id}"
    return [f"{base}:q", f"{base}:dz", f"{base}:b", f"{base}:m", f"{base}:st"]


class Taken(msgspec.Struct, frozen=True):
    """A delivery this instance holds the lease of."""

    event_id: str
    body: bytes
    attempts: int  # attempts made before this one
    lease: str


class DeadLetter(msgspec.Struct, frozen=True):
    event_id: str
    type: str
    died_at_ms: int
    reason: str  # exhausted | overflow | endpoint_gone | endpoint_disabled
    attempts: int
    last_status: str


class EndpointState(msgspec.Struct, frozen=True):
    backlog: int
    dead_letters: int
    disabled: bool
    disabled_at_ms: int | None
    dead_letters_dropped: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class WebhookQueue:
    def __init__(self, redis: AnyRedis, settings: WebhookSettings) -> None:
        self.redis = redis
        self.settings = settings
        self._scripts = register(redis, *SCRIPTS)

    async def _run(self, name: str, endpoint_id: str, args: list[Any]) -> Any:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await self._scripts[name](keys=endpoint_keys(endpoint_id), args=args)
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc

    async def enqueue(self, endpoint: WebhookEndpoint, event_id: str, body: bytes) -> str:
        s = self.settings
        return _text(
            await self._run(
                "wh_enqueue", endpoint.id, [event_id, body, s.max_backlog, s.max_dead_letters]
            )
        )

    async def take(self, endpoint: WebhookEndpoint, limit: int) -> list[Taken]:
        lease_ms = int(self.settings.lease_seconds * 1000)
        flat = await self._run("wh_take", endpoint.id, [limit, lease_ms])
        return [
            Taken(_text(flat[i]), bytes(flat[i + 1]), int(flat[i + 2]), _text(flat[i + 3]))
            for i in range(0, len(flat), 4)
        ]

    async def result(
        self, endpoint: WebhookEndpoint, taken: Taken, outcome: str, status: str, delay: float
    ) -> tuple[str, int]:
        """``outcome``: ok | fail | gone. Returns what happened and how many became dead."""
        s = self.settings
        reply = await self._run(
            "wh_result",
            endpoint.id,
            [
                taken.event_id,
                taken.lease,
                outcome,
                status,
                int(delay * 1000),
                len(s.retry_schedule) + 1,
                s.max_dead_letters,
            ],
        )
        return _text(reply[0]), int(reply[1])

    async def resend(self, endpoint: WebhookEndpoint, event_id: str | None, limit: int) -> int:
        moved = await self._run(
            "wh_resend", endpoint.id, [event_id or "", limit, self.settings.max_backlog]
        )
        return int(moved)

    async def dead_letters(
        self, endpoint: WebhookEndpoint, offset: int, limit: int
    ) -> tuple[int, list[DeadLetter]]:
        flat = await self._run("wh_dead_list", endpoint.id, [offset, limit])
        total = int(flat[0])
        out: list[DeadLetter] = []
        for i in range(1, len(flat), 4):
            meta = msgspec.json.decode(flat[i + 2] or b"{}")
            try:
                etype = str(msgspec.json.decode(flat[i + 3] or b"{}").get("type", ""))
            except (msgspec.DecodeError, AttributeError):
                etype = ""
            out.append(
                DeadLetter(
                    event_id=_text(flat[i]),
                    type=etype,
                    died_at_ms=int(float(flat[i + 1])),
                    reason=str(meta.get("r", "")),
                    attempts=int(meta.get("n", 0)),
                    last_status=str(meta.get("s", "")),
                )
            )
        return total, out

    async def state(self, endpoint: WebhookEndpoint) -> EndpointState:
        q, dz, _, _, st = endpoint_keys(endpoint.id)
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                backlog = await self.redis.zcard(q)
                dead = await self.redis.zcard(dz)
                fields = {_text(k): _text(v) for k, v in (await self.redis.hgetall(st)).items()}
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc
        disabled_at = fields.get("disabled_at")
        return EndpointState(
            backlog=int(backlog),
            dead_letters=int(dead),
            disabled=fields.get("disabled") == "1",
            disabled_at_ms=int(float(disabled_at)) if disabled_at else None,
            dead_letters_dropped=int(fields.get("dead_dropped", 0)),
        )

    async def enable(self, endpoint: WebhookEndpoint) -> None:
        """Lift a 410's disabling (one HDEL: atomic, nothing read)."""
        st = endpoint_keys(endpoint.id)[4]
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await self.redis.hdel(st, "disabled", "disabled_at", "disabled_status")
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc
