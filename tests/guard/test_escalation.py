"""Blocks escalate for repeat offenders, are capped, and decay: the real Lua, with every
duration scaled to milliseconds so that a day's escalation runs in about two seconds."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import msgspec
import redis.asyncio as aredis

from otpservice.guard.settings import GuardMode, GuardSettings
from otpservice.storage.redis_store import store_for
from tests.guard import sim
from tests.guard.test_pumping_simulation import settings_for


def guard() -> GuardSettings:
    return msgspec.structs.replace(
        GuardSettings(),
        mode=GuardMode.ENFORCE,
        window_ms=60_000,
        settle_ms=0,
        min_sends=2,
        block_ms=100,
        escalation=4,
        block_max_ms=800,
        decay_ms=600,
    )


async def scenario(url: str) -> list[tuple[str, float]]:
    settings = msgspec.structs.replace(settings_for(GuardMode.ENFORCE), guard=guard())
    client = aredis.Redis.from_url(url)
    store = store_for(client, settings)
    await store.scripts.load()
    serial = iter(range(10_000))
    blocks: list[tuple[str, float]] = []

    async def offend() -> None:
        """Unconverted numbers under one prefix until the guard blocks; note its duration."""
        while True:
            t = sim.target(settings, "web", f"+90532444{next(serial):04d}")
            verdict = await store.reserve_shared(t, None)
            if verdict.kind == "limited" and verdict.flag == "guard_blocked":
                blocks.append(("blocked", verdict.retry_after))
                await asyncio.sleep(verdict.retry_after + 0.02)
                return
            assert verdict.kind == "ok", verdict

    try:
        for _ in range(4):  # 100 ms, then x4 = 400, then 1600 capped at 800, and 800
            await offend()
        await asyncio.sleep(0.7)  # clean for longer than the decay: strikes forgotten
        await offend()
        events = [
            json.loads(f[b"d"])
            for _, f in await client.xrange("otp:{g}:ev")
            if f[b"t"] == b"guard.blocked"
        ]
        for e in events:
            blocks.append((f"strike{e['strikes']}", e["block_seconds"]))
    finally:
        await client.aclose()
    return blocks


def test_blocks_escalate_cap_and_decay(redis_url: str) -> None:
    with ThreadPoolExecutor(1) as pool:
        seen = pool.submit(lambda: asyncio.run(scenario(redis_url))).result()
    durations = [round(s, 1) for kind, s in seen if kind == "blocked"]
    assert durations == [0.1, 0.4, 0.8, 0.8, 0.1], seen
    strikes = [(kind, s) for kind, s in seen if kind.startswith("strike")]
    assert strikes == [
        ("strike1", 0.1),
        ("strike2", 0.4),
        ("strike3", 0.8),
        ("strike4", 0.8),
        ("strike1", 0.1),
    ]
