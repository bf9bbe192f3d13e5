"""A country that converts too little raises an alert; it is blocked only where the operator
enabled country blocks (OTP_GUARD_BLOCK_COUNTRIES). The real Lua, driven directly."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import msgspec
import redis.asyncio as aredis

from otpservice.guard.settings import GuardMode, GuardSettings
from otpservice.guard.store import GuardStore
from otpservice.storage.redis_store import store_for
from tests.guard import sim
from tests.guard.test_pumping_simulation import settings_for


def guard(block_countries: frozenset[str]) -> GuardSettings:
    return msgspec.structs.replace(
        GuardSettings(),
        mode=GuardMode.ENFORCE,
        settle_ms=0,
        min_sends=100,  # no prefix is judged here: only the country
        country_min_sends=3,
        country_min_conversion=0.5,
        block_countries=block_countries,
    )


async def scenario(url: str, block_countries: frozenset[str]) -> tuple[list[str], list[str]]:
    settings = msgspec.structs.replace(
        settings_for(GuardMode.ENFORCE), guard=guard(block_countries)
    )
    client = aredis.Redis.from_url(url)
    await client.flushall()
    store = store_for(client, settings)
    await store.scripts.load()
    outcomes: list[str] = []
    try:
        # A customer converts (and is now returning); numbers on other prefixes never do.
        customer = sim.target(settings, "web", "+905447770001")
        assert (await store.reserve_shared(customer, None)).kind == "ok"
        await GuardStore(store, settings.guard).record_approval(
            customer.tag, customer.country, customer.prefix
        )
        for i in range(6):
            t = sim.target(settings, "web", f"+9053{i}2220001")
            v = await store.reserve_shared(t, None)
            outcomes.append(f"{v.kind}:{v.policy or ''}:{v.flag}")
        returning = await store.reserve_shared(customer, None)
        outcomes.append(f"returning:{returning.kind}")
        types = [
            f"{f[b't'].decode()}:{json.loads(f[b'd']).get('scope', '')}"
            for _, f in await client.xrange("otp:{g}:ev")
        ]
    finally:
        await client.aclose()
    return outcomes, types


def run(url: str, block_countries: frozenset[str]) -> tuple[list[str], list[str]]:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(scenario(url, block_countries))).result()


def test_low_country_conversion_alerts_once_and_blocks_nothing_by_default(redis_url: str) -> None:
    outcomes, types = run(redis_url, frozenset())
    # 1 approved of 3 settled (33 % < 50 %) from the third number on: an alert, once.
    assert outcomes[:2] == ["ok::"] * 2
    assert outcomes[2] == "ok::country_alert"
    assert outcomes[3:] == ["ok::", "ok::", "ok::", "returning:ok"]
    assert types == ["guard.country_alert:country"]


def test_country_block_only_where_enabled(redis_url: str) -> None:
    outcomes, types = run(redis_url, frozenset({"TR"}))
    assert outcomes[:2] == ["ok::"] * 2
    assert outcomes[2] == "limited:fraud_guard:country_blocked"
    assert outcomes[3:6] == ["limited:fraud_guard:"] * 3
    # A returning customer still gets a code from a blocked country.
    assert outcomes[6] == "returning:ok"
    assert types == ["guard.blocked:country"]
