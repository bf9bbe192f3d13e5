"""granian vs uvicorn on this service: same workers, same load, same machine.

    .venv/bin/python bench/servers.py --workers 2 --seconds 8 --concurrency 32

Starts a redis-server, the provider simulator (its own process) and, for each server,
``otpservice serve --server X --workers N`` with OTP_HASH_PRESET=owasp and the send limits
raised. Then, for each of three scenarios, an asyncio load generator (its own process)
keeps ``--concurrency`` requests in flight for ``--seconds``:

* healthz   GET /healthz (no Redis)
* refused   POST /v1/verifications for a number already over its 10-minute limit (429
            after the two Redis scripts; no hashing, no provider call)
* flow      POST /v1/verifications for a fresh number (simulator send + argon2 hash),
            then POST .../check with a wrong code (argon2 verify): one flow = 2 requests

Prints requests (or flows) per second and latency percentiles per server and scenario.
The load generator shares the cores with the server: compare the servers with each other,
not with other machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_KEY = "bench-provider-key-0001"
CLIENT_KEY = "bench-client-key-000000001"
OVER_LIMIT_PHONE = "+905329990000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def load(base: str, scenario: str, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    done = 0
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as c:
        stop = time.monotonic() + seconds

        async def one() -> list[int]:
            if scenario == "healthz":
                return [(await c.get("/healthz")).status_code]
            if scenario == "refused":
                r = await c.post("/v1/verifications", json={"phone": OVER_LIMIT_PHONE})
                return [r.status_code]
            phone = f"+90532{random.randrange(10**7):07d}"
            created = await c.post("/v1/verifications", json={"phone": phone})
            if created.status_code != 201:
                return [created.status_code]
            vid = created.json()["id"]
            checked = await c.post(f"/v1/verifications/{vid}/check", json={"code": "000000"})
            return [created.status_code, checked.status_code]

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                started = time.perf_counter()
                codes = await one()
                latencies.append(time.perf_counter() - started)
                for code in codes:
                    statuses[code] = statuses.get(code, 0) + 1
                done += 1

        begun = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - begun
    return {
        "per_second": round(done / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "statuses": statuses,
    }


def run_server(
    server: str, workers: int, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otpservice",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--server",
            server,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, Any] = {}
    try:
        wait_http(f"{base}/healthz")
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        httpx.post(f"{base}/v1/verifications", json={"phone": OVER_LIMIT_PHONE}, headers=headers)
        for scenario in ("healthz", "refused", "flow"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--_load",
                    base,
                    scenario,
                    str(args.seconds),
                    str(args.concurrency),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[scenario] = json.loads(out.stdout)
    finally:
        proc.terminate()
        results["exit_code"] = proc.wait(60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--servers", default="granian,uvicorn")
    parser.add_argument("--_load", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._load:
        base, scenario, seconds, concurrency = args._load
        print(json.dumps(asyncio.run(load(base, scenario, float(seconds), int(concurrency)))))
        return

    work = Path(tempfile.mkdtemp(prefix="otp-bench-"))
    redis_port, sim_port = free_port(), free_port()
    redis = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(work),
        ],
        stdout=subprocess.DEVNULL,
    )
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otpservice",
            "simulator",
            "--port",
            str(sim_port),
            "--api-key",
            PROVIDER_KEY,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sim_root = f"http://127.0.0.1:{sim_port}"
        wait_http(f"{sim_root}/inbox")
        httpx.patch(
            f"{sim_root}/_admin/accounts/{PROVIDER_KEY}",
            json={"per_minute_limit": 10_000_000, "local_balance_sms": 10_000_000},
        ).raise_for_status()
        big = "10000000"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTP_")},
            "PYTHONPATH": str(ROOT),
            "OTP_SECRET": "bench-secret-" + "x" * 40,
            "OTP_API_KEYS": f"bench={CLIENT_KEY}",
            "OTP_PROVIDER_API_KEY": PROVIDER_KEY,
            "OTP_PROVIDER_BASE_URL": f"{sim_root}/api/v3",
            "OTP_PROVIDER_SENDER_ID": "OTPSVC",
            "OTP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "OTP_HASH_PRESET": "owasp",
            "OTP_ALLOW_INSECURE": "1",  # the simulator over plain http
            "OTP_LOG_LEVEL": "WARNING",
            "OTP_BALANCE_POLL_SECONDS": "0",
            "OTP_LIMIT_PHONE_10M": "1",
            "OTP_PREFIX_BURST_NUMBERS": "0",
            **{
                f"OTP_LIMIT_{name}": big
                for name in (
                    "PHONE_24H",
                    "IP_HOUR",
                    "IP_NET_HOUR",
                    "CLIENT_MINUTE",
                    "COUNTRY_HOUR",
                    "COUNTRY_DAY",
                    "PREFIX_HOUR",
                    "PREFIX_DAY",
                    "GLOBAL_MINUTE",
                    "GLOBAL_DAY",
                )
            },
        }
        report = {}
        for server in args.servers.split(","):
            subprocess.run(
                [shutil.which("redis-cli") or "redis-cli", "-p", str(redis_port), "FLUSHALL"],
                check=True,
                capture_output=True,
            )
            report[server] = run_server(server, args.workers, env, args)
        print(
            json.dumps(
                {
                    "workers": args.workers,
                    "seconds": args.seconds,
                    "concurrency": args.concurrency,
                    "cpus": os.cpu_count(),
                    "results": report,
                },
                indent=2,
            )
        )
    finally:
        sim.terminate()
        redis.terminate()
        sim.wait(10)
        redis.wait(10)


if __name__ == "__main__":
    main()
