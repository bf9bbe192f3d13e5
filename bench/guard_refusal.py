"""What the fraud guard costs a refused send: the shared step's script with the guard's check
folded in, against the same refusal with the guard off.

    .venv/bin/python -m bench.guard_refusal --rounds 3000

Starts a redis-server and drives the send's shared step (RedisStore.reserve_shared, the real
Lua) one call at a time: a refusal by ``client_minute`` with the guard off, the same with the
guard on (its block checks run first and pass), and a refusal by ``fraud_guard`` (a blocked
prefix). Prints the median and p90 latency per case in microseconds, and Redis's own time
per script call (INFO commandstats ``usec_per_call``), which the machine's load disturbs less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
import redis.asyncio as aredis

from bench import procs
from otpservice.config import load_settings
from otpservice.domain.models import phone_tag, slot_of
from otpservice.domain.phone import parse_phone
from otpservice.domain.ports import SendTarget
from otpservice.domain.requester import NO_NETWORK
from otpservice.guard.settings import GuardMode
from otpservice.storage.redis_store import store_for

ENV = {
    "OTP_SECRET": "Kd2Vx9Qm4Lr7Tn0Cz5Hb8Wp1Fs6Jy3Ga",
    "OTP_API_KEYS": "web=bench-client-key-0123456789",
    "OTP_PROVIDER_API_KEY": "unused",
    "OTP_LIMIT_CLIENT_MINUTE": "1",
    "OTP_GUARD_MIN_SENDS": "1",
    "OTP_GUARD_SETTLE_SECONDS": "0",
}


def target(secret: bytes, e164: str) -> SendTarget:
    phone = parse_phone(e164, "TR")
    return SendTarget(
        client="web",
        e164=phone.e164,
        tag=phone_tag(secret, phone.e164),
        slot=slot_of("web", "login", NO_NETWORK),
        purpose="login",
        locale="en",
        country=phone.region,
        prefix=phone.prefix(4),
        ip=None,
        ip_net=None,
        exempt=False,
        masked=phone.masked,
    )


async def case(url: str, mode: GuardMode, rounds: int, block: bool) -> dict[str, float]:
    # The blocked-prefix case needs its deciding send to pass the budgets.
    base = load_settings({**ENV, "OTP_LIMIT_CLIENT_MINUTE": "0"} if block else ENV)
    settings = msgspec.structs.replace(base, guard=msgspec.structs.replace(base.guard, mode=mode))
    client = aredis.Redis.from_url(url)
    await client.flushall()
    store = store_for(client, settings)
    await store.scripts.load()
    first = target(settings.secret, "+905321110000")
    assert (await store.reserve_shared(first, None)).kind == "ok"
    if block:  # one settled, unconverted number: the next send under the prefix blocks it
        verdict = await store.reserve_shared(target(settings.secret, "+905321110001"), None)
        assert verdict.policy == "fraud_guard", verdict
    expected = "fraud_guard" if block else "client_minute"
    refused = target(settings.secret, "+905321110002")
    await client.config_resetstat()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        verdict = await store.reserve_shared(refused, None)
        samples.append((time.perf_counter() - started) * 1e6)
        assert verdict.policy == expected, verdict
    stats = await client.info("commandstats")
    await client.aclose()
    samples.sort()
    return {
        "median_us": statistics.median(samples),
        "p90_us": samples[int(len(samples) * 0.9)],
        "redis_usec_per_call": float(stats["cmdstat_evalsha"]["usec_per_call"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2, help="alternate the cases this often")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        procs.redis_server(Path(tmp), Path(tmp) / "redis.log") as (port, _),
    ):
        url = f"redis://127.0.0.1:{port}/0"
        for name, mode, block in (
            ("client_minute, guard off", GuardMode.OFF, False),
            ("client_minute, guard on", GuardMode.ENFORCE, False),
            ("fraud_guard (blocked prefix)", GuardMode.ENFORCE, True),
        ) * args.repeat:
            r = asyncio.run(case(url, mode, args.rounds, block))
            print(
                f"{name:30s} median {r['median_us']:7.1f} us  p90 {r['p90_us']:7.1f} us  "
                f"redis {r['redis_usec_per_call']:6.1f} us/call"
            )


if __name__ == "__main__":
    main()
