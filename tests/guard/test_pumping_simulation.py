"""The slow pumping attack of issue 15, for a simulated day, with the guard off and on."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import redis.asyncio as aredis

from otpservice.config import Settings, load_settings
from otpservice.guard.settings import GuardMode
from otpservice.guard.store import GuardStore
from otpservice.storage.redis_store import store_for
from tests.guard import sim
from tests.support.servers import RedisProcess

SECRET = "Wn5Tc0Qa8Rv3Lk7Xe2Hm9Bp4Zs1Dg6Jf"


def settings_for(mode: GuardMode) -> Settings:
    base = load_settings(
        {
            "OTP_SECRET": SECRET,
            "OTP_API_KEYS": "web=web-client-key-0123456789",
            "OTP_PROVIDER_API_KEY": "unused",
        }
    )
    return msgspec.structs.replace(base, limits=sim.scaled_limits(), guard=sim.scaled_guard(mode))


async def run(url: str, mode: GuardMode) -> sim.Outcome:
    settings = settings_for(mode)
    # A bounded pool that waits for a free connection: 250 coroutines opening sockets at once
    # on a loaded machine would time out connecting.
    pool = aredis.BlockingConnectionPool.from_url(url, max_connections=32, timeout=30)
    client = aredis.Redis(connection_pool=pool)
    try:
        store = store_for(client, settings)
        await store.scripts.load()
        outcome = await sim.simulate(settings, store, GuardStore(store, settings.guard))
        for _, fields in await client.xrange("otp:{g}:ev"):
            data = msgspec.json.decode(fields[b"d"])
            kind = fields[b"t"].decode()
            outcome.events[f"{kind}#{data.get('strikes', '')}"] += 1
        return outcome
    finally:
        await client.aclose()


def test_slow_pumping_for_a_day_guard_off_and_on(redis_url: str, tmp_path: Path) -> None:
    # Both days at once, each on its own Redis: the guard-off day on a second server.
    second = RedisProcess(tmp_path / "redis-off").start()
    try:

        async def both() -> tuple[sim.Outcome, sim.Outcome]:
            off, on = await asyncio.gather(
                run(second.url, GuardMode.OFF), run(redis_url, GuardMode.ENFORCE)
            )
            return off, on

        # Its own thread and loop: another suite's loop may still run on this one.
        with ThreadPoolExecutor(1) as pool:
            off, on = pool.submit(lambda: asyncio.run(both())).result()
    finally:
        second.stop()
    print(
        f"\nslow pumping, one simulated day ({sim.DAY_HOURS} h at {sim.HOUR} s/h), "
        f"{sim.ATTACK_PREFIXES} attacked prefixes, {sim.LEGIT_PREFIXES} legitimate ones:"
    )
    for name, o in (("guard off", off), ("guard on", on)):
        print(
            f"  {name}: {sum(o.attacker_sms.values())} SMS to the attacker's numbers "
            f"(max {max(o.attacker_sms.values(), default=0)} per prefix), "
            f"{o.attacker_refused} attacker refusals; legitimate: {o.legit_sent} sent, "
            f"{sum(o.legit_refused.values())} refused {dict(o.legit_refused)}; "
            f"events (type#strikes): {dict(sorted(o.events.items()))}; "
            f"Redis timeouts retried: {o.storage_retries}"
        )
    assert on.attacker_sms, "the attacker got nothing through at all: not a simulation"
    assert max(on.attacker_sms.values()) <= 10
    assert not on.legit_refused
    assert on.legit_sent > 0
    # Without the guard only the budgets stop it: many times more SMS, and real users pay.
    assert sum(off.attacker_sms.values()) > 3 * sum(on.attacker_sms.values())
    assert sum(off.legit_refused.values()) > 0
