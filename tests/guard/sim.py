"""A slow SMS-pumping attack against the send's shared step (the real Lua), in scaled time.

One simulated hour is HOUR real seconds; every window, settle time, block and budget period
is scaled alike. The attacker walks 200 prefixes of one country with 9 new numbers per
prefix per burst window (10 simulated minutes, evenly paced), never enters a code, and
after a refusal waits for its Retry-After. Legitimate users on 50 other prefixes arrive
steadily (one per prefix per 30 minutes) and 4 in 5 enter their code at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import msgspec

from otpservice.config import Settings
from otpservice.domain.models import phone_tag, slot_of
from otpservice.domain.phone import parse_phone
from otpservice.domain.ports import SendTarget, SharedVerdict
from otpservice.domain.requester import NO_NETWORK
from otpservice.errors import StorageUnavailable
from otpservice.guard.settings import GuardMode, GuardSettings
from otpservice.guard.store import GuardStore
from otpservice.storage.redis_store import RedisStore
from otpservice.throttling.policies import Limits, PrefixBurst, Quota

HOUR = 1.0  # real seconds per simulated hour
DAY_HOURS = 24
BURST_WINDOW = HOUR / 6  # 10 simulated minutes
ATTACK_PREFIXES = 200
LEGIT_PREFIXES = 50
PER_WINDOW = 9


def ms(hours: float) -> int:
    return int(hours * HOUR * 1000)


def scaled_guard(mode: GuardMode) -> GuardSettings:
    """The default guard, every time scaled."""
    d = GuardSettings()
    return msgspec.structs.replace(
        d,
        mode=mode,
        window_ms=ms(d.window_ms / 3_600_000),
        settle_ms=ms(d.settle_ms / 3_600_000),
        block_ms=ms(d.block_ms / 3_600_000),
        block_max_ms=ms(d.block_max_ms / 3_600_000),
        decay_ms=ms(d.decay_ms / 3_600_000),
        returning_ms=ms(d.returning_ms / 3_600_000),
    )


def scaled_limits() -> Limits:
    """The default budgets whose periods scale to whole real seconds; the per-minute ones
    (and the 10-minute burst rule, which the attacker stays under by construction) cannot
    be expressed at this scale and are off."""
    d = Limits()
    hour, day = int(HOUR), int(HOUR * DAY_HOURS)
    return msgspec.structs.replace(
        d,
        client_minute=Quota(0, 60),
        global_minute=Quota(0, 60),
        country_hour=Quota(d.country_hour.limit, hour),
        country_day=Quota(d.country_day.limit, day),
        prefix_hour=Quota(d.prefix_hour.limit, hour),
        prefix_day=Quota(d.prefix_day.limit, day),
        global_day=Quota(d.global_day.limit, day),
        prefix_burst=PrefixBurst(numbers=0),
    )


def target(settings: Settings, client: str, e164: str) -> SendTarget:
    phone = parse_phone(e164, "TR")
    return SendTarget(
        client=client,
        e164=phone.e164,
        tag=phone_tag(settings.secret, phone.e164),
        slot=slot_of(client, "login", NO_NETWORK),
        purpose="login",
        locale="en",
        country=phone.region,
        prefix=phone.prefix(settings.limits.prefix_drop_digits),
        ip=None,
        ip_net=None,
        exempt=False,
        masked=phone.masked,
    )


async def reserve(store: RedisStore, t: SendTarget, out: Outcome) -> SharedVerdict:
    """The shared step; a Redis call that timed out on an overloaded machine is tried again
    (and counted), so that it is never mistaken for a refusal."""
    for _ in range(5):
        try:
            return await store.reserve_shared(t, None)
        except StorageUnavailable:
            out.storage_retries += 1
            await asyncio.sleep(0.01)
    raise StorageUnavailable("Redis kept timing out")


async def approve(guard: GuardStore, t: SendTarget, out: Outcome) -> None:
    """The approval's guard step (what the service runs after an approval), retried alike."""
    for _ in range(5):
        try:
            return await guard.record_approval(t.tag, t.country, t.prefix)
        except StorageUnavailable:
            out.storage_retries += 1
            await asyncio.sleep(0.01)
    raise StorageUnavailable("Redis kept timing out")


@dataclass
class Outcome:
    attacker_sms: Counter[str] = field(default_factory=Counter)  # prefix -> SMS
    attacker_refused: int = 0
    legit_sent: int = 0
    legit_refused: Counter[str] = field(default_factory=Counter)  # policy -> refusals
    events: Counter[str] = field(default_factory=Counter)
    storage_retries: int = 0


async def simulate(settings: Settings, store: RedisStore, guard: GuardStore) -> Outcome:
    out = Outcome()
    start = time.monotonic()
    end = start + DAY_HOURS * HOUR

    async def attacker(p: int) -> None:
        prefix = f"9053{2000 + p:04d}"  # +90 532 0xx / 53 21xx ...: one country, 200 prefixes
        n = 0
        pace = BURST_WINDOW / PER_WINDOW
        await asyncio.sleep(p * pace / ATTACK_PREFIXES)
        while time.monotonic() < end:
            n += 1
            t = target(settings, "web", f"+{prefix}{n % 10_000:04d}")
            verdict = await reserve(store, t, out)
            wait = pace
            if verdict.kind == "ok":
                out.attacker_sms[prefix] += 1
            else:
                out.attacker_refused += 1
                wait = max(pace, verdict.retry_after)
            await asyncio.sleep(wait)

    async def legit(p: int) -> None:
        prefix = f"9054{3000 + p:04d}"
        n = 0
        await asyncio.sleep(p * HOUR / 2 / LEGIT_PREFIXES)
        while time.monotonic() < end:
            n += 1
            t = target(settings, "web", f"+{prefix}{n % 10_000:04d}")
            verdict = await reserve(store, t, out)
            if verdict.kind == "ok":
                out.legit_sent += 1
                if (n + p) % 5 != 0:  # 4 in 5 enter their code
                    await approve(guard, t, out)
            else:
                out.legit_refused[verdict.policy or verdict.kind] += 1
            await asyncio.sleep(HOUR / 2)  # a new user on this prefix every 30 minutes

    await asyncio.gather(
        *(attacker(p) for p in range(ATTACK_PREFIXES)),
        *(legit(p) for p in range(LEGIT_PREFIXES)),
    )
    return out
