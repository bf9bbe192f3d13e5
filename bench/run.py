"""One benchmark run: start everything, drive every target, write RESULTS.md, results.json
and bench.png. ``python -m bench`` (full, ~6 min) or ``python -m bench --quick`` (smoke)."""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import procs
from bench.fairness import measure
from bench.hashbound import argon2_bound
from bench.report import write_report
from otpservice.domain.codes import PRESETS
from otpservice.serving import DEFAULT_SERVER, SERVERS

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
    bound_seconds: float
    refused_seconds: float
    refused_concurrency: int
    memory_count: int
    creates_count: int
    fair_seconds: float
    fair_concurrency: int
    flood_concurrency: int
    preset: str
    rounds: int
    flow_rounds: int  # (bound, flows) rounds of the base configuration; others get 2
    configs: tuple[str, ...]
    server: str = DEFAULT_SERVER


FULL = Sizes(
    workers=os.cpu_count() or 2,
    flow_seconds=6,
    flow_concurrency=16,
    bound_seconds=3,
    refused_seconds=5,
    refused_concurrency=16,
    memory_count=6000,
    creates_count=3000,
    fair_seconds=8,
    fair_concurrency=2,
    flood_concurrency=32,
    preset="owasp",
    rounds=3,
    flow_rounds=6,
    configs=("base", "tcp", "events", "guard", "routes", "all"),
)
QUICK = Sizes(
    workers=1,
    flow_seconds=0.6,
    flow_concurrency=4,
    bound_seconds=0.4,
    refused_seconds=0.4,
    refused_concurrency=4,
    memory_count=200,
    creates_count=30,
    fair_seconds=0.8,
    fair_concurrency=1,
    flood_concurrency=4,
    preset="test",
    rounds=1,
    flow_rounds=1,
    configs=("base", "all"),
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


def memory_breakdown(client: redis.Redis, sample: int = 300) -> dict[str, dict[str, Any]]:
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
    out: dict[str, dict[str, Any]] = {}
    for kind, keys_ in sorted(classes.items()):
        picked = keys_[:sample]
        sizes = [int(client.memory_usage(k, samples=0) or 0) for k in picked]
        out[kind] = {
            "keys": len(keys_),
            "avg_bytes": round(sum(sizes) / max(1, len(sizes)), 1),
            "encoding": client.object("encoding", picked[0]).decode() if picked else "",
        }
    return out


def feature_envs(env: dict[str, str], sim_port: int) -> dict[str, dict[str, str]]:
    """Target 4: the service as targets 1-3 measure it (event log, fraud guard and provider
    routes off), each of them switched on alone, and all of them on (what ships)."""
    base = {**env, "OTP_EVENTS": "0", "OTP_GUARD_MODE": "off"}
    sim = f"http://127.0.0.1:{sim_port}/api/v3"
    routed = {k: v for k, v in base.items() if not k.startswith("OTP_PROVIDER_")}
    routed["OTP_PROVIDERS"] = json.dumps(
        [
            {"name": "main", "kind": "turkeysms", "base_url": sim, "api_key": PROVIDER_KEY,
             "sender_id": "OTPSVC", "code_source": "provider"},
            {"name": "backup", "kind": "turkeysms", "base_url": sim, "api_key": PROVIDER_KEY,
             "sender_id": "OTPSVC", "code_source": "local"},
        ]
    )  # fmt: skip
    routed["OTP_ROUTES"] = json.dumps({"default": ["main", "backup"], "+90532": ["backup"]})
    on = {**routed, "OTP_EVENTS": "1", "OTP_GUARD_MODE": "enforce"}
    return {
        "base": base,
        "events": {**base, "OTP_EVENTS": "1"},
        "guard": {**base, "OTP_GUARD_MODE": "enforce"},
        "routes": routed,
        "all": on,
    }


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),  # of an even n: the middle two's mean
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }


def summarize_refusals(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": rounds}
    for kind in ("refused_sends", "unknown_checks"):
        out[kind] = {
            "ratio": spread([r[kind]["rate"] / r["bare"]["rate"] for r in rounds]),
            "rate": spread([r[kind]["rate"] for r in rounds]),
            "cpu_us": spread([r[kind]["cpu_us_per_request"] for r in rounds]),
            "errors": sum(r[kind]["errors"] for r in rounds),
        }
    out["bare"] = {
        "rate": spread([r["bare"]["rate"] for r in rounds]),
        "cpu_us": spread([r["bare"]["cpu_us_per_request"] for r in rounds]),
        "errors": sum(r["bare"]["errors"] for r in rounds),
    }
    return out


def summarize_flows(rounds: list[dict[str, Any]], bounds: list[float]) -> dict[str, Any]:
    return {
        "rounds": rounds,
        "bounds": bounds,
        "ratio": spread([r["ratio"] for r in rounds]),
        "rate": spread([r["flows"]["rate"] for r in rounds]),
        "cpu_us_per_flow": spread([2 * r["flows"]["cpu_us_per_request"] for r in rounds]),
        "errors": sum(r["flows"]["errors"] for r in rounds),
    }


def rerender(out_dir: Path) -> dict[str, Any]:
    """RESULTS.md and the charts again from results.json's rounds (the summaries computed
    anew from them), without measuring anything."""
    results: dict[str, Any] = json.loads((out_dir / "results.json").read_text())
    results.pop("figures", None)
    for one in results["configs"].values():
        one["refusals"] = summarize_refusals(one["refusals"]["rounds"])
        one["flows"] = summarize_flows(one["flows"]["rounds"], one["flows"]["bounds"])
    write_report(results, out_dir)
    return results


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
    numbers = iter(random_numbers(sizes.memory_count * 2 + 20_000, seed=7))
    started = time.monotonic()
    try:
        with (
            procs.redis_server(work / "redis", logs / "redis.log") as (redis_port, rclient),
            procs.simulator(PROVIDER_KEY, logs / "simulator.log") as sim_port,
        ):
            env = service_env(redis_port, sim_port, sizes.preset, n_test)
            tcp_url = env["OTP_REDIS_URL"]
            # Redis on the same host: over its Unix socket, as README's production notes
            # advise (config "tcp" measures the same service over 127.0.0.1).
            redis_url = env["OTP_REDIS_URL"] = f"unix://{work / 'redis' / 'redis.sock'}"
            envs = feature_envs(env, sim_port)
            envs["tcp"] = {**envs["base"], "OTP_REDIS_URL": tcp_url}
            base = {"key": API_KEY, "code": TEST_CODE, "numbers": test_numbers(n_test)}

            def flows(port: int, seconds: float) -> dict[str, Any]:
                spec = {**base, "kind": "flows", "port": port}
                spec |= {"concurrency": sizes.flow_concurrency, "duration": seconds}
                return procs.measured(spec)[0]

            def refusals(port: int, bare_port: int) -> dict[str, Any]:
                """Rounds of bare, refused sends, unknown checks: each compared with the
                bare run just before it (same background load)."""
                refused = {
                    "port": port,
                    "key": API_KEY,
                    "concurrency": sizes.refused_concurrency,
                    "duration": sizes.refused_seconds,
                    "phone": "+905321234567",
                    "client_ip": REFUSED_IP,
                    "code": TEST_CODE,
                }
                bare = {**refused, "port": bare_port, "kind": "bare"}
                procs.loadgen({**refused, "kind": "refused_sends", "duration": 0.3})  # 1st ok
                procs.loadgen({**bare, "duration": 0.3})
                rounds = []
                for _ in range(sizes.rounds):
                    b = procs.measured(bare)[0]
                    sends = procs.measured({**refused, "kind": "refused_sends"})[0]
                    checks = procs.measured({**refused, "kind": "unknown_checks"})[0]
                    rounds.append({"bare": b, "refused_sends": sends, "unknown_checks": checks})
                return summarize_refusals(rounds)

            def flows_vs_bound(port: int, rounds_n: int) -> dict[str, Any]:
                """Rounds of (bound, flows): each round's flows against the mean of the
                bounds measured just before and just after them."""
                flows(port, min(2.0, sizes.flow_seconds))  # warm-up
                bounds = [argon2_bound(preset, sizes.bound_seconds)]
                rounds = []
                for _ in range(rounds_n):
                    sat = flows(port, sizes.flow_seconds)
                    bounds.append(argon2_bound(preset, sizes.bound_seconds))
                    bound = (bounds[-2] + bounds[-1]) / 2
                    rounds.append({"flows": sat, "bound": bound, "ratio": sat["rate"] / bound})
                return summarize_flows(rounds, bounds)

            def creates(port: int) -> dict[str, Any]:
                """Real sends through the simulator (fresh numbers): CPU per create."""
                spec = {
                    "kind": "creates",
                    "port": port,
                    "key": API_KEY,
                    "numbers": [next(numbers) for _ in range(sizes.creates_count)],
                    "concurrency": 8,
                    "duration": sizes.refused_seconds,
                }
                return procs.measured(spec)[0]

            def fairness(config: str) -> dict[str, Any]:
                spec = {**base, "concurrency": sizes.fair_concurrency}
                common: dict[str, Any] = {
                    "workers": sizes.workers,
                    "server": sizes.server,
                    "flows_spec": spec,
                    "flood_concurrency": sizes.flood_concurrency,
                    "seconds": sizes.fair_seconds,
                }
                rclient.flushall()
                on = measure(envs[config], log=logs / f"fair-{config}-on.log", **common)
                if config != "base":
                    return {"admission_on": on}
                rclient.flushall()
                off = measure(
                    {**envs[config], "OTP_ADMISSION": "0"},
                    log=logs / f"fair-{config}-off.log",
                    **common,
                )
                return {"admission_on": on, "admission_off": off}

            with (
                procs.baseline(
                    redis_url, sizes.workers, logs / "baseline.log", sizes.server
                ) as bare_port,
                procs.baseline(
                    tcp_url, sizes.workers, logs / "baseline-tcp.log", sizes.server
                ) as bare_tcp_port,
            ):
                # -- targets 1, 2 and 4: each configuration in its own service ------------
                configs: dict[str, Any] = {}
                for config in sizes.configs:
                    rclient.flushall()
                    log = logs / f"service-{config}.log"
                    with procs.service(envs[config], sizes.workers, log, sizes.server) as port:
                        bare = bare_tcp_port if config == "tcp" else bare_port
                        one: dict[str, Any] = {"refusals": refusals(port, bare)}
                        rounds_n = min(2, sizes.flow_rounds)
                        if config == "base":
                            rounds_n = sizes.flow_rounds
                        one["flows"] = flows_vs_bound(port, rounds_n)
                        one["creates"] = creates(port)
                        configs[config] = one
                results["configs"] = configs
            # -- target 3 (and its part of 4): fairness --------------------------------
            results["fairness"] = fairness("base")
            results["fairness_all"] = fairness("all")

            # -- target 5: memory, everything on (events included) ---------------------
            def fill(
                port: int, phones: list[str], client_ips: list[str] | None = None
            ) -> dict[str, Any]:
                """Create one verification per number; used_memory before/after.
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
                time.sleep(0.5)
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
                        if str(k).startswith(("hash", "zset", "stream"))
                    },
                }

            # Numbers under one prefix (the prefix budgets are shared, not per
            # verification); the SMS-pumping burst guard and the fraud guard off (both
            # hold back unconverted numbers under one prefix: every number here is one).
            one_prefix_env = {
                **envs["all"],
                "OTP_HASH_PRESET": "test",
                "OTP_PREFIX_BURST_NUMBERS": "0",
                "OTP_GUARD_MODE": "off",
            }
            with procs.service(
                one_prefix_env, sizes.workers, logs / "service-memory.log", sizes.server
            ) as port:
                one_prefix = [f"+90532{i:07d}" for i in range(sizes.memory_count)]
                results["memory"] = fill(port, one_prefix)
            # The worst case: every number under its own prefix, everything on, and every
            # request from its own address and /24 (10.a.b.1): per-IP budget keys too.
            worst = {**envs["all"], "OTP_HASH_PRESET": "test"}
            with procs.service(
                worst, sizes.workers, logs / "service-worst.log", sizes.server
            ) as port:
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
    parser.add_argument(
        "--rerender", action="store_true", help="rewrite RESULTS.md from --out's results.json"
    )
    args = parser.parse_args()
    if args.rerender:
        rerender(Path(args.out))
        print((Path(args.out) / "RESULTS.md").read_text())
        return
    results = run_bench(
        Path(args.out), quick=args.quick, workers=args.workers or None, server=args.server
    )
    print((Path(args.out) / "RESULTS.md").read_text())
    print(f"({results['seconds']} s)")


if __name__ == "__main__":
    main()
