"""What failover costs a send: sends/s and latency with the primary provider healthy, refusing
every send (definite: TS-1027) or hanging, with the breaker on and off.

    .venv/bin/python -m bench.failover --seconds 6 --concurrency 8

Starts a redis-server, the simulator with two accounts (``main`` and ``backup``) and, per
scenario, ``otpservice serve`` (1 worker, OTP_HASH_PRESET=test so that hashing does not hide
the provider, limits raised) over the route main -> backup. Each scenario keeps
``--concurrency`` creates for fresh numbers in flight for ``--seconds``. The simulator counts
the provider requests each account received, so "provider calls per send" is measured, not
inferred: 1.0 healthy; 2.0 while main refuses and its breaker stays closed (one extra round
trip); back to 1.0 once the breaker is open (main is skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import procs

MAIN_KEY = "bench-main-key-000001"
BACKUP_KEY = "bench-backup-key-0001"
API_KEY = "bench-client-key-0123456789"


@contextlib.contextmanager
def two_account_simulator(log: Path) -> Iterator[int]:
    port = procs.free_port()
    argv = [procs.PYTHON, "-m", "otpservice", "simulator", "--port", str(port)]
    argv += ["--api-key", MAIN_KEY, "--api-key", BACKUP_KEY]
    proc = procs.Proc("simulator", argv, procs.child_env(), log)
    try:
        procs.wait_http(port, "/", proc.popen)
        yield port
    finally:
        proc.stop()


def _env(redis_port: int, sim_port: int, *, breaker: bool, uncertain: bool) -> dict[str, str]:
    api = f"http://127.0.0.1:{sim_port}/api/v3"
    providers = [
        {"name": "main", "kind": "turkeysms", "base_url": api, "api_key": MAIN_KEY,
         "sender_id": "OTPSVC", "code_source": "provider", "timeout_seconds": 0.5},
        {"name": "backup", "kind": "turkeysms", "base_url": api, "api_key": BACKUP_KEY,
         "sender_id": "OTPSVC", "code_source": "local", "timeout_seconds": 0.5},
    ]  # fmt: skip
    route = {"providers": ["main", "backup"], "failover_on_uncertain": uncertain}
    env = {
        "OTP_SECRET": secrets.token_urlsafe(48),
        "OTP_API_KEYS": f"bench={API_KEY}",
        "OTP_PROVIDERS": json.dumps(providers),
        "OTP_ROUTES": json.dumps({"default": route}),
        "OTP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "OTP_HASH_PRESET": "test",
        "OTP_PREFIX_BURST_NUMBERS": "0",
        "OTP_LOG_LEVEL": "ERROR",
        "OTP_BALANCE_POLL_SECONDS": "0",
        "OTP_BREAKER_MIN_FAILURES": "5" if breaker else "0",
    }
    for name in ("PHONE_10M", "PHONE_24H", "CLIENT_MINUTE", "GLOBAL_MINUTE", "GLOBAL_DAY"):
        env[f"OTP_LIMIT_{name}"] = "10000000"
    for name in ("COUNTRY_HOUR", "COUNTRY_DAY", "PREFIX_HOUR", "PREFIX_DAY"):
        env[f"OTP_LIMIT_{name}"] = "10000000"
    return env


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def drive(port: int, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=30
    ) as client:
        stop = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop:
                phone = f"+90532{random.randrange(10**7):07d}"
                started = time.perf_counter()
                r = await client.post("/v1/verifications", json={"phone": phone})
                latencies.append(time.perf_counter() - started)
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    sent = statuses.get("201", 0)
    return {
        "requests": len(latencies),
        "sent_per_second": round(sent / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "statuses": statuses,
    }


SCENARIOS = {
    # name: (main's fault, breaker on, failover_on_uncertain)
    "healthy": ("none", True, False),
    "refusing, breaker off": ("balance", False, False),
    "refusing, breaker on": ("balance", True, False),
    "hanging, breaker on": ("hang", True, False),
    "hanging, breaker on, failover_on_uncertain": ("hang", True, True),
    "hanging, breaker off, failover_on_uncertain": ("hang", False, True),
}


def run(seconds: float, concurrency: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="otp-bench-failover-"))
    results: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with (
        procs.redis_server(work / "redis", work / "redis.log") as (redis_port, redis),
        two_account_simulator(work / "sim.log") as sim_port,
    ):
        sim = httpx.Client(base_url=f"http://127.0.0.1:{sim_port}", timeout=10)
        for name, (fault, breaker, uncertain) in SCENARIOS.items():
            redis.flushall()
            sim.post("/_admin/reset").raise_for_status()
            big = {"local_balance_sms": 10_000_000, "per_minute_limit": 10_000_000}
            for key in (MAIN_KEY, BACKUP_KEY):
                sim.patch(f"/_admin/accounts/{key}", json=big).raise_for_status()
            if fault == "balance":
                sim.patch(f"/_admin/accounts/{MAIN_KEY}", json={"local_balance_sms": 0})
            elif fault == "hang":
                sim.post("/_admin/faults", json={"mode": "hang", "api_key": MAIN_KEY})
            env = _env(redis_port, sim_port, breaker=breaker, uncertain=uncertain)
            with procs.service(env, 1, work / "service.log", "granian") as port:
                before = sim.get("/_admin/stats").json()["provider_requests"]
                out = asyncio.run(drive(port, seconds, concurrency))
                calls = sim.get("/_admin/stats").json()["provider_requests"] - before
            out["provider_calls_per_send"] = round(calls / max(1, out["statuses"].get("201", 0)), 2)
            out["provider_calls"] = calls
            results[name] = out
            print(name, json.dumps(out), flush=True)
    results["load_average_after"] = os.getloadavg()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", default="bench/results/failover.json")
    args = parser.parse_args()
    results = run(args.seconds, args.concurrency)
    results["command"] = (
        f"python -m bench.failover --seconds {args.seconds:g} --concurrency {args.concurrency}"
    )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
