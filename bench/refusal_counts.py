"""How to count refusals decided before Redis (a country or prefix not allowed): in process,
written once a second (events/refusals.py), against one fire-and-forget script call per
refusal with a bound on the calls in flight.

    .venv/bin/python -m bench.refusal_counts --refusals 20000

Starts a redis-server and offers ``--refusals`` refusals as fast as one event loop can, the
way a flood reaches one worker. Per case: the CPU time per refusal in this process (what a
refused request pays on top of its own work; for fire-and-forget also per script call), the
script calls Redis ran (EVALSHA, the first one answered NOSCRIPT included) and how many
refusals were counted: fire-and-forget drops what finds its bound full. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aredis

from bench import procs
from otpservice.events.refusals import RefusalCounts
from otpservice.events.scripts import register
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS, refusals_ttl_ms, utc_day

IN_FLIGHT = 64  # the fire-and-forget case's bound: beyond it, a count is dropped


def _counted(port: int) -> int:
    import redis

    client = redis.Redis(port=port)
    day = utc_day(int(time.time() * 1000))
    total = sum(int(n) for n in client.hgetall(keys.refusals_day("g", day)).values())
    client.flushall()
    client.close()
    return total


def _calls(port: int) -> int:
    import redis

    client = redis.Redis(port=port)
    stats: Any = client.info("commandstats")
    client.config_resetstat()
    client.close()
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_evalsha"))


async def batched(port: int, n: int) -> float:
    r = aredis.Redis(port=port)
    counts = RefusalCounts(r, history_days=7)
    started = time.process_time()
    for i in range(n):
        counts.note("web", "country_not_allowed", "US")
        if i % 50 == 0:
            await asyncio.sleep(0)  # requests yield to the loop between refusals
    await counts.close()
    spent = time.process_time() - started
    await r.aclose()
    return spent


async def fire_and_forget(port: int, n: int) -> float:
    r = aredis.Redis(port=port, max_connections=IN_FLIGHT + 1)
    script = register(r, "refusal_counts")["refusal_counts"]
    day_key = keys.refusals_day("g", utc_day(int(time.time() * 1000)))
    tasks: set[asyncio.Task[Any]] = set()
    started = time.process_time()
    for i in range(n):
        if len(tasks) < IN_FLIGHT:
            args: list[str | int] = [
                refusals_ttl_ms(7 * DAY_MS),
                "web",
                "country_not_allowed",
                "US",
                1,
            ]
            task = asyncio.ensure_future(script(keys=[day_key], args=args))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if i % 50 == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    spent = time.process_time() - started
    await r.aclose()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.refusal_counts", description=__doc__)
    parser.add_argument("--refusals", type=int, default=20_000)
    args = parser.parse_args()
    n = args.refusals
    work = Path(tempfile.mkdtemp(prefix="refusal-counts-"))
    out: dict[str, Any] = {"refusals": n}
    with procs.redis_server(work / "redis", work / "redis.log") as (port, _):
        _calls(port)
        for name, case in (("batched", batched), ("fire_and_forget", fire_and_forget)):
            spent = asyncio.run(case(port, n))
            calls, counted = _calls(port), _counted(port)
            out[name] = {
                "cpu_us_per_refusal": round(spent / n * 1e6, 2),
                "script_calls": calls,
                "counted": counted,
            }
            if name == "fire_and_forget":  # what one counted refusal costs this way
                out[name]["cpu_us_per_script_call"] = round(spent / max(calls, 1) * 1e6, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
