"""Reading the event log as a queue: one Redis Streams consumer group over every partition's
stream and the shared one (CONTRACT.md 1-2). At-least-once: an entry stays pending until the
consumer acknowledges it, and entries a dead instance left pending longer than
``claim_idle_seconds`` are taken over (XAUTOCLAIM) by a live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from redis.exceptions import RedisError, ResponseError

from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

log = structlog.get_logger("otpservice.events")

READ_COUNT = 64
QUIET_SECONDS = 30.0  # while Redis is down, one warning per group this often, not per read
DEAD_CONSUMER_MS = 3_600_000  # a consumer silent this long, holding nothing, is forgotten


class Throttled:
    """Say a repeated failure once per ``QUIET_SECONDS``, with how often it happened."""

    def __init__(self) -> None:
        self._next = 0.0
        self._suppressed = 0

    def warning(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        log.warning(event, repeated=self._suppressed, **fields)
        self._next, self._suppressed = now + QUIET_SECONDS, 0


async def run_forever(
    step: Callable[[], Awaitable[bool]], idle_seconds: float, failure_event: str
) -> None:
    """A background loop: ``step`` again at once while it finds work, after ``idle_seconds``
    when it found none. It outlives any one failure (Redis comes back), said once a while."""
    failures = Throttled()
    while True:
        try:
            busy = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures.warning(failure_event, error=type(exc).__name__)
            busy = False
        if not busy:
            await asyncio.sleep(idle_seconds)


class StreamEvent(msgspec.Struct, frozen=True):
    """One entry of the event log, as consumers see it."""

    id: str  # evt_<part>_<entry id>: the public id, the webhook-id
    stream: str
    entry_id: str
    type: str
    at_ms: int  # the entry id's time (Redis clock)
    client: str
    verification_id: str
    country: str
    prefix: str
    phone: str  # masked
    data: dict[str, Any]

    @property
    def timestamp(self) -> str:
        at = datetime.fromtimestamp(self.at_ms / 1000, tz=UTC)
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.at_ms % 1000:03d}Z"

    def payload(self) -> dict[str, Any]:
        """The webhook body: Standard Webhooks' {"type", "timestamp", "data"}."""
        data: dict[str, Any] = {
            "id": self.id,
            "verification_id": self.verification_id or None,
            "client": self.client or None,
            "country": self.country or None,
            "prefix": self.prefix or None,
            "phone": self.phone or None,
        }
        data.update(self.data)
        return {"type": self.type, "timestamp": self.timestamp, "data": data}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def part_of_stream(stream: str) -> str:
    """'7' for otp:{p7}:ev, 'g' for otp:{g}:ev."""
    tag = stream[stream.index("{") + 1 : stream.index("}")]
    return tag[1:] if tag.startswith("p") else tag


def parse_entry(stream: str, entry_id: Any, fields: Any) -> StreamEvent:
    eid = _text(entry_id)
    f = {_text(k): _text(v) for k, v in (fields or {}).items()}
    try:
        data = msgspec.json.decode(f.get("d", "{}") or "{}")
    except msgspec.DecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return StreamEvent(
        id=f"evt_{part_of_stream(stream)}_{eid}",
        stream=stream,
        entry_id=eid,
        type=f.get("t", ""),
        at_ms=int(eid.split("-")[0]),
        client=f.get("c", ""),
        verification_id=f.get("v", ""),
        country=f.get("cc", ""),
        prefix=f.get("px", ""),
        phone=f.get("ph", ""),
        data=data,
    )


def all_streams(*, shared: bool = True) -> list[str]:
    streams = [keys.event_stream(p) for p in range(keys.PARTITIONS)]
    if shared:
        streams.append(keys.SHARED_EVENTS)
    return streams


def consumer_name() -> str:
    """This process as a consumer: host, pid and a random part (a restart is a new one)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class StreamGroup:
    """One consumer group (``group``) read by this process over ``streams``."""

    def __init__(
        self,
        redis: AnyRedis,
        group: str,
        streams: Sequence[str],
        *,
        claim_idle_seconds: float,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.group = group
        self.streams = list(streams)
        self.consumer = consumer or consumer_name()
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self._ready: set[str] = set()
        self._next_claim = 0.0
        self._failures = Throttled()
        self.more_waiting = False  # after read(): whether a stream had more than it gave

    async def _ensure(self, stream: str) -> None:
        if stream in self._ready:
            return
        try:
            # "$": a new group starts with what happens from now on, not the whole history.
            await self.redis.xgroup_create(stream, self.group, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready.add(stream)

    async def prepare(self) -> None:
        """Create the group on every stream now (at start-up, before requests are served), so
        that no event written after start-up is missed; Redis being down only defers it."""
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await asyncio.gather(*(self._ensure(s) for s in self.streams))
        except (RedisError, TimeoutError) as exc:
            log.warning("events.group_create_failed", group=self.group, error=type(exc).__name__)

    async def _read_one(self, stream: str, claim: bool) -> list[StreamEvent]:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await self._ensure(stream)
                entries: list[Any] = []
                if claim:
                    reply = await self.redis.xautoclaim(
                        stream, self.group, self.consumer, self.claim_idle_ms, "0-0", READ_COUNT
                    )
                    entries.extend(reply[1])
                got: Any = await self.redis.xreadgroup(
                    self.group, self.consumer, {stream: ">"}, count=READ_COUNT
                )
                for _, items in got or []:
                    entries.extend(items)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted (a flush): make it again
                self._ready.discard(stream)
            else:
                self._failures.warning("events.read_failed", group=self.group, error=str(exc))
            return []
        except (RedisError, TimeoutError) as exc:
            self._failures.warning("events.read_failed", group=self.group, error=type(exc).__name__)
            return []
        if claim:
            await self._forget_dead_consumers(stream)
        # XAUTOCLAIM hands back ids whose entries were trimmed as None fields: skip them.
        return [parse_entry(stream, eid, fields) for eid, fields in entries if fields]

    async def _forget_dead_consumers(self, stream: str) -> None:
        """Every restart is a new consumer: drop the ones long silent that hold nothing (what
        they held was claimed already), so the group's list does not grow forever."""
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(OPERATION_TIMEOUT):
                for consumer in await self.redis.xinfo_consumers(stream, self.group):
                    name = _text(consumer["name"])
                    idle = int(consumer.get("idle", 0))
                    if (
                        name != self.consumer
                        and consumer["pending"] == 0
                        and idle > (DEAD_CONSUMER_MS)
                    ):
                        await self.redis.xgroup_delconsumer(stream, self.group, name)

    async def read(self) -> list[StreamEvent]:
        """New entries of every stream, and (now and then) entries left pending too long."""
        now = time.monotonic()
        claim = now >= self._next_claim
        if claim:
            self._next_claim = now + max(self.claim_idle_ms / 2000, 0.25)
        batches = await asyncio.gather(*(self._read_one(s, claim) for s in self.streams))
        # A full batch from some stream: more is probably waiting there.
        self.more_waiting = any(len(batch) >= READ_COUNT for batch in batches)
        return [event for batch in batches for event in batch]

    async def ack(self, events: Sequence[StreamEvent]) -> None:
        by_stream: dict[str, list[str]] = {}
        for event in events:
            by_stream.setdefault(event.stream, []).append(event.entry_id)
        for stream, ids in by_stream.items():
            try:
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    await self.redis.xack(stream, self.group, *ids)
            except (RedisError, TimeoutError) as exc:
                # Unacknowledged entries come back through XAUTOCLAIM: at least once.
                log.warning("events.ack_failed", stream=stream, error=type(exc).__name__)
