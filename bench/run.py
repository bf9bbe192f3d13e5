"""One benchmark run: start everything, drive every target, write RESULTS.md, results.json
and bench.png. ``python -m bench`` (full, ~6 min) or ``python -m bench --quick`` (smoke)."""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import procs
from bench.hashbound import argon2_bound
from bench.report import write_report
from otpservice.cli import DEFAULT_SERVER, SERVERS
from otpservice.domain.codes import PRESETS

CLIENT = "bench"
API_KEY = "bench_" + "k" * 24
PROVIDER_KEY = "sim_bench_provider_key"
TEST_CODE = "123456"
REFUSED_IP = "203.0.113.7"  # OTP_LIMIT_IP_HOUR=1: every send from it after the first is refused
QUOTAS = [
    *("PHONE_10M", "PHONE_24H", "IP_NET_HOUR", "CLIENT_MINUTE", "COUNTRY_HOUR"),
    *("COUNTRY_DAY", "PREFIX_HOUR", "PREFIX_DAY", "GLOBAL_MINUTE", "GLOBAL_DAY"),
    *("PHONE_NET_10M", "PHONE_NET_24H", "IP_NET48_HOUR", "TEST_NUMBER_DAY"),
]


@dataclass(frozen=True)
class Sizes:
    workers: int
    flow_seconds: float
    flow_concurrency: int
    moderate_concurrency: int
    bound_seconds: float
    refused_seconds: float
    refused_concurrency: int
    memory_count: int
    slow_latency_ms: int
    slow_concurrency: tuple[int, ...]
    slow_seconds: float
    preset: str
    rounds: int
    server: str = DEFAULT_SERVER


FULL = Sizes(
    workers=os.cpu_count() or 2,
    flow_seconds=12,
    flow_concurrency=16,
    moderate_concurrency=2,
    bound_seconds=6,
    refused_seconds=8,
    refused_concurrency=16,
    memory_count=10_000,
    slow_latency_ms=2000,
    slow_concurrency=(1, 8, 32),
    slow_seconds=10,
    preset="owasp",
    rounds=3,
)
QUICK = Sizes(
    workers=1,
    flow_seconds=1.0,
    flow_concurrency=4,
    moderate_concurrency=1,
    bound_seconds=0.5,
    refused_seconds=0.7,
    refused_concurrency=4,
    memory_count=200,
    slow_latency_ms=300,
    slow_concurrency=(1, 4),
    slow_seconds=1.2,
    preset="test",
    rounds=1,
)


def test_numbers(n: int) -> list[str]:
    return [f"+90555000{i:04d}" for i in range(n)]


def random_numbers(n: int, seed: int) -> list[str]:
    """Distinct Turkish mobile numbers spread over the 53x/54x/55x ranges (so their
    prefixes, the E.164 digits but the last 4, are mostly distinct: the worst case)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < n:
        number = f"+905{rng.choice('345')}{rng.randrange(10)}{rng.randrange(10**7):07d}"
        if not number.startswith("+90555000"):
            seen.add(number)
    return sorted(seen, key=lambda _: rng.random())


def service_env(redis_port: int, sim_port: int, preset: str, n_test: int) -> dict[str, str]:
    env = {
        "OTP_SECRET": secrets.token_urlsafe(48),
        "OTP_API_KEYS": f"{CLIENT}={API_KEY}",
        "OTP_PROVIDER_API_KEY": PROVIDER_KEY,
        "OTP_PROVIDER_BASE_URL": f"http://127.0.0.1:{sim_port}/api/v3",
        "OTP_PROVIDER_SENDER_ID": "OTPSVC",
        "OTP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "OTP_HASH_PRESET": preset,
        "OTP_ALLOW_INSECURE": "1",  # the simulator over plain http; the test preset
        "OTP_TEST_NUMBERS": ",".join(f"{CLIENT}:{n}={TEST_CODE}" for n in test_numbers(n_test)),
        "OTP_LIMIT_IP_HOUR": "1",
        "OTP_PREFIX_BURST_NUMBERS": "1000000",
    }
    for name in QUOTAS:
        env[f"OTP_LIMIT_{name}"] = "10000000"
    return env


def machine_state() -> dict[str, Any]:
    load = os.getloadavg()
    try:
        ps = subprocess.run(
            ["ps", "-eo", "pcpu,comm", "--sort=-pcpu"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.splitlines()[1:8]
    except (OSError, subprocess.SubprocessError):
        ps = []
    return {
        "loadavg": [round(x, 2) for x in load],
        "top": [line.strip() for line in ps],
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


PHONE_TAG_CHARS = 11  # storage/keys.py: a phone's keyed tag, 8 bytes in base64


def memory_breakdown(client: redis.Redis, sample: int = 300) -> dict[str, dict[str, float]]:
    """Keys by class (verification, send log, shared budgets...) with MEMORY USAGE samples."""
    classes: dict[str, list[str]] = {}
    for raw in client.scan_iter(match="otp:*", count=1000):
        key = raw.decode()
        parts = key.split(":")
        if parts[1].startswith("{p"):
            if len(parts) >= 4 and len(parts[2]) == PHONE_TAG_CHARS:
                kind = "phone:" + parts[3]  # otp:{pN}:<tag>:<kind>[:<slot>]
            else:  # the partition's own keys: its event stream (ev), delivery tracking...
                kind = "partition:" + parts[2]
        elif parts[1] == "{r":  # otp:{r:<rid>}
            kind = "shared:rid"
        else:
            parts = key.split(":")
            kind = "shared:" + (":".join(parts[2:4]) if parts[2] == "b" else parts[2])
        classes.setdefault(kind, []).append(key)
    out: dict[str, dict[str, float]] = {}
    for kind, keys_ in sorted(classes.items()):
        picked = keys_[:sample]
        sizes = [int(client.memory_usage(k, samples=0) or 0) for k in picked]
        out[kind] = {
            "keys": len(keys_),
            "avg_bytes": round(sum(sizes) / max(1, len(sizes)), 1),
            "encoding": client.object("encoding", picked[0]).decode() if picked else "",
        }
    return out


def run_bench(
    out_dir: Path, quick: bool = False, workers: int | None = None, server: str | None = None
) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    if workers:
        sizes = Sizes(**{**sizes.__dict__, "workers": workers})
    if server:
        sizes = Sizes(**{**sizes.__dict__, "server": server})
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="otpbench-"))
    logs = work / "logs"
    logs.mkdir()
    results: dict[str, Any] = {
        "quick": quick,
        "sizes": sizes.__dict__,
        "cores": os.cpu_count(),
        "machine_before": machine_state(),
    }
    preset = PRESETS[sizes.preset]
    n_test = max(64, sizes.flow_concurrency * 2)
    numbers = iter(random_numbers(sizes.memory_count + 8000, seed=7))
    started = time.monotonic()
    try:
        with (
            procs.redis_server(work / "redis", logs / "redis.log") as (redis_port, rclient),
            procs.simulator(PROVIDER_KEY, logs / "simulator.log") as sim_port,
        ):
            env = service_env(redis_port, sim_port, sizes.preset, n_test)
            base = {"key": API_KEY, "code": TEST_CODE, "numbers": test_numbers(n_test)}

            def flows(port: int, concurrency: int, seconds: float) -> dict[str, Any]:
                spec = {**base, "kind": "flows", "port": port}
                return procs.loadgen({**spec, "concurrency": concurrency, "duration": seconds})[0]

            def probe(port: int, seconds: float) -> dict[str, Any]:
                return {"kind": "probe", "port": port, "duration": seconds, "interval": 0.01}

            def slow_provider(port: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
                """Target 6: every provider call takes slow_latency_ms; creates of fresh
                numbers at each concurrency, /healthz probed at the highest."""
                procs.http_send(
                    sim_port,
                    "POST",
                    "/_admin/faults",
                    {"mode": "latency", "latency_ms": sizes.slow_latency_ms},
                )
                slow: list[dict[str, Any]] = []
                health: dict[str, Any] = {}
                for concurrency in sizes.slow_concurrency:
                    rounds = sizes.slow_seconds * 1000 / sizes.slow_latency_ms + 2
                    spec = {
                        "kind": "creates",
                        "port": port,
                        "key": API_KEY,
                        "numbers": [next(numbers) for _ in range(int(concurrency * rounds))],
                        "concurrency": concurrency,
                        "duration": sizes.slow_seconds,
                    }
                    if concurrency == max(sizes.slow_concurrency):
                        created, health = procs.loadgen(spec, probe(port, sizes.slow_seconds))
                    else:
                        created = procs.loadgen(spec)[0]
                    created["concurrency"] = concurrency
                    slow.append(created)
                procs.http_send(sim_port, "DELETE", "/_admin/faults", {})
                return slow, health

            def fill(
                port: int, phones: list[str], client_ips: list[str] | None = None
            ) -> dict[str, Any]:
                """Target 4: create one verification per number; used_memory before/after.
                A warm-up first, then FLUSHALL: the service's Redis connections (their buffers
                are ~400 KB in all) and the script cache exist before the first reading, so
                the difference is the verifications' own keys."""
                warm_up = [f"+90533{i:07d}" for i in range(300)]
                spec = {"kind": "creates", "port": port, "key": API_KEY, "numbers": warm_up}
                procs.loadgen({**spec, "concurrency": 16, "duration": 60})
                rclient.flushall()
                time.sleep(0.2)
                before = int(rclient.info("memory")["used_memory"])
                spec = {
                    "kind": "creates",
                    "port": port,
                    "key": API_KEY,
                    "numbers": phones,
                    "client_ips": client_ips,
                    "concurrency": 16,
                    "duration": 300,
                }
                done = procs.loadgen(spec)[0]
                time.sleep(0.2)
                after = int(rclient.info("memory")["used_memory"])
                pending = sum(1 for _ in rclient.scan_iter(match="otp:{p*}:*:v:*", count=1000))
                return {
                    "created": done["units"],
                    "errors": done["errors"],
                    "error_samples": done["error_samples"],
                    "fill_rate": done["rate"],
                    "pending": pending,
                    "used_memory_before": before,
                    "used_memory_after": after,
                    "bytes_per_verification": round((after - before) / max(1, pending), 1),
                    "keys": int(rclient.dbsize()),
                    "breakdown": memory_breakdown(rclient),
                    "redis_config": {
                        k: v
                        for k, v in rclient.config_get("*listpack*").items()
                        if k.startswith(("hash", "zset"))
                    },
                }

            # -- target 1: rounds of (bound, flows), so that both see the same background
            # load; the bound runs while the service idles. Target 3 then has its own
            # saturated run: its probe's 100 requests/s would otherwise count against
            # the flows and not against the bound --------------------------------------
            with procs.service(env, sizes.workers, logs / "service.log", sizes.server) as port:
                flows(port, sizes.flow_concurrency, min(3.0, sizes.flow_seconds))  # warm-up
                spec = {**base, "kind": "flows", "port": port}
                bounds: list[float] = []
                rounds: list[dict[str, Any]] = []
                for _ in range(sizes.rounds):
                    bounds.append(argon2_bound(preset, sizes.bound_seconds))
                    sat = flows(port, sizes.flow_concurrency, sizes.flow_seconds)
                    rounds.append({"flows": sat})
                bounds.append(argon2_bound(preset, sizes.bound_seconds))
                for i, one in enumerate(rounds):
                    one["bound"] = (bounds[i] + bounds[i + 1]) / 2
                    one["ratio"] = one["flows"]["rate"] / one["bound"]
                results["bounds"] = bounds
                results["rounds"] = rounds
                ranked = sorted(rounds, key=lambda one: float(one["ratio"]))
                median = ranked[len(ranked) // 2]
                results["bound_before"], results["bound_after"] = bounds[0], bounds[-1]
                results["bound"] = median["bound"]
                results["flows"] = median["flows"]
                sat_spec = {
                    **spec,
                    "concurrency": sizes.flow_concurrency,
                    "duration": sizes.flow_seconds,
                }
                results["flows_probed"], results["healthz_under_flows"] = procs.loadgen(
                    sat_spec, probe(port, sizes.flow_seconds)
                )
                results["flows_moderate"] = flows(
                    port, sizes.moderate_concurrency, sizes.flow_seconds / 2
                )
                refused = {
                    "port": port,
                    "key": API_KEY,
                    "concurrency": sizes.refused_concurrency,
                    "duration": sizes.refused_seconds,
                    "phone": "+905321234567",
                    "client_ip": REFUSED_IP,
                    "code": TEST_CODE,
                }
                procs.loadgen({**refused, "kind": "refused_sends", "duration": 0.3})  # 1st is ok
                results["refused_sends"] = procs.loadgen({**refused, "kind": "refused_sends"})[0]
                results["unknown_checks"] = procs.loadgen({**refused, "kind": "unknown_checks"})[0]

                results["slow_provider_owasp"], results["healthz_slow_owasp"] = slow_provider(port)

            # -- target 5: one worker ------------------------------------------------------
            if sizes.workers == 1:
                results["flows_one_worker"] = results["flows"]
            else:
                with procs.service(env, 1, logs / "service-1.log", sizes.server) as port:
                    flows(port, sizes.flow_concurrency, min(3.0, sizes.flow_seconds))
                    results["flows_one_worker"] = flows(
                        port, sizes.flow_concurrency, sizes.flow_seconds
                    )

            # -- target 2's yardstick: a bare endpoint with one Redis call ------------------
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            with procs.baseline(
                redis_url, sizes.workers, logs / "baseline.log", sizes.server
            ) as port:
                bare = {**refused, "port": port, "kind": "bare"}
                procs.loadgen({**bare, "duration": 0.5})
                results["bare"] = procs.loadgen(bare)[0]

            # -- targets 6 (pools alone) and 4, with the cheap hashing preset -------------
            # Target 4's main figure: numbers under one prefix (the prefix budgets are
            # shared, not per verification), the SMS-pumping guard off (it would block the
            # prefix; its set holds at most OTP_PREFIX_BURST_NUMBERS members per prefix).
            # The fraud guard off as well: it holds back unconverted numbers under one prefix
            # (guard/), and every number here stays unconverted.
            cheap = {
                **env,
                "OTP_HASH_PRESET": "test",
                "OTP_PREFIX_BURST_NUMBERS": "0",
                "OTP_GUARD_MODE": "off",
            }
            with procs.service(
                cheap, sizes.workers, logs / "service-cheap.log", sizes.server
            ) as port:
                results["slow_provider"], results["healthz_under_slow_provider"] = slow_provider(
                    port
                )
                one_prefix = [f"+90532{i:07d}" for i in range(sizes.memory_count)]
                results["memory"] = fill(port, one_prefix)
            # The worst case: every number under its own prefix, the guard on.
            worst = {**env, "OTP_HASH_PRESET": "test"}
            with procs.service(
                worst, sizes.workers, logs / "service-worst.log", sizes.server
            ) as port:
                # ... and every request from its own address and /24 (10.a.b.1): per-IP
                # budget keys too.
                results["memory_distinct_prefixes"] = fill(
                    port,
                    [next(numbers) for _ in range(sizes.memory_count)],
                    [f"10.{i >> 8 & 255}.{i & 255}.1" for i in range(sizes.memory_count)],
                )
    finally:
        results["seconds"] = round(time.monotonic() - started, 1)
        results["machine_after"] = machine_state()
        shutil.copytree(logs, out_dir / "logs", dirs_exist_ok=True) if quick else None
        shutil.rmtree(work, ignore_errors=True)
    write_report(results, out_dir)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="output directory")
    parser.add_argument("--workers", type=int, default=0, help="default: one per core")
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER)
    args = parser.parse_args()
    results = run_bench(
        Path(args.out), quick=args.quick, workers=args.workers or None, server=args.server
    )
    print((Path(args.out) / "RESULTS.md").read_text())
    print(f"({results['seconds']} s)")


if __name__ == "__main__":
    main()
