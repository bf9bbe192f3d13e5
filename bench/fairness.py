"""Fairness: one client key floods the service with refused sends at full saturation
while another client key's people run send + check flows. Their success rate and p99
are compared with the same flows on an idle service, with admission control on and off.

``python -m bench.fairness`` runs it alone (``--quick`` for the smoke sizes);
``python -m bench`` runs it as one of its targets.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import procs

FLOOD_CLIENT = "flood"
FLOOD_KEY = "flood_" + "f" * 24
FLOOD_IP = "203.0.113.7"  # OTP_LIMIT_IP_HOUR=1: every send from it after the first is refused


def success_rate(result: Mapping[str, Any]) -> float:
    attempts = int(result["units"]) + int(result["errors"])
    return float(result["units"]) / attempts if attempts else 0.0


def _flows_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "rate": result["rate"],
        "units": result["units"],
        "errors": result["errors"],
        "success_rate": round(success_rate(result), 4),
        "p99_ms": result["latency_ms"].get("flow", {}).get("p99", 0.0),
        "p50_ms": result["latency_ms"].get("flow", {}).get("p50", 0.0),
        "error_samples": result["error_samples"][:3],
    }


def measure(
    env: Mapping[str, str],
    *,
    workers: int,
    server: str,
    log: Path,
    flows_spec: Mapping[str, Any],
    flood_concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    """One service: unloaded flows, then the same flows under the flood."""
    clients = env["OTP_API_KEYS"]
    env = {**env, "OTP_API_KEYS": f"{clients},{FLOOD_CLIENT}={FLOOD_KEY}"}
    with procs.service(env, workers, log, server) as port:
        flows = {**flows_spec, "kind": "flows", "port": port, "duration": seconds}
        procs.loadgen({**flows, "duration": min(2.0, seconds)})  # warm-up
        alone = procs.loadgen(flows)[0]
        flood = {
            "kind": "refused_sends",
            "port": port,
            "key": FLOOD_KEY,
            "phone": "+905321234567",
            "client_ip": FLOOD_IP,
            "concurrency": flood_concurrency,
            "duration": seconds + 1.0,
        }
        procs.loadgen({**flood, "duration": 0.3, "concurrency": 1})  # its first send passes
        flooded, flood_result = procs.loadgen(flows, flood)
    statuses = flood_result["statuses"]
    shed = statuses.get("refused_send:503", 0)
    refused = statuses.get("refused_send:429", 0)
    unloaded, loaded = _flows_summary(alone), _flows_summary(flooded)
    kept = loaded["success_rate"] / unloaded["success_rate"] if unloaded["success_rate"] else 0
    p99_ratio = loaded["p99_ms"] / unloaded["p99_ms"] if unloaded["p99_ms"] else 0.0
    return {
        "unloaded": unloaded,
        "loaded": loaded,
        "success_kept": round(kept, 4),
        "p99_ratio": round(p99_ratio, 2),
        "flood": {
            "requests_per_s": round((shed + refused) / max(flood_result["elapsed"], 1e-9), 1),
            "refused_429": refused,
            "shed_503": shed,
            "other": {k: v for k, v in statuses.items() if not k.endswith((":429", ":503"))},
        },
        "meets": kept >= 0.95 and 0 < p99_ratio <= 3.0,
    }


def run_fairness(
    env: Mapping[str, str],
    *,
    workers: int,
    server: str,
    logs: Path,
    flows_spec: Mapping[str, Any],
    flood_concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    """Admission control on (the default) and off, same sizes."""
    common: dict[str, Any] = {
        "workers": workers,
        "server": server,
        "flows_spec": flows_spec,
        "flood_concurrency": flood_concurrency,
        "seconds": seconds,
    }
    on = measure(env, log=logs / "service-fair-on.log", **common)
    off = measure({**env, "OTP_ADMISSION": "0"}, log=logs / "service-fair-off.log", **common)
    return {"admission_on": on, "admission_off": off}


def main() -> None:
    import tempfile

    from bench.run import API_KEY, FULL, PROVIDER_KEY, QUICK, TEST_CODE, service_env, test_numbers

    parser = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--flood", type=int, default=32, help="flood connections")
    parser.add_argument("--concurrency", type=int, default=2, help="the person's flows")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="otpfair-"))
    with (
        procs.redis_server(work / "redis", work / "redis.log") as (redis_port, _),
        procs.simulator(PROVIDER_KEY, work / "simulator.log") as sim_port,
    ):
        env = service_env(redis_port, sim_port, sizes.preset, 64)
        spec = {
            "key": API_KEY,
            "code": TEST_CODE,
            "numbers": test_numbers(64),
            "concurrency": args.concurrency,
        }
        out = run_fairness(
            env,
            workers=sizes.workers,
            server=sizes.server,
            logs=work,
            flows_spec=spec,
            flood_concurrency=args.flood,
            seconds=args.seconds or sizes.flow_seconds,
        )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
