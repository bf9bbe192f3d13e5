"""Flows against the argon2 bound with the cores split two ways: 2 workers with one argon2
thread each (what `otpservice serve` does on 2 cores) and 1 worker with two, in alternating
rounds over one Redis and one simulator, each round against the mean of the bounds measured
just before and after it.

    .venv/bin/python -m bench.worker_layout --rounds 6 --seconds 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import procs
from bench.hashbound import argon2_bound
from bench.run import API_KEY, PROVIDER_KEY, TEST_CODE, service_env, test_numbers
from otpservice.domain.codes import PRESETS

LAYOUTS = {"2 workers x 1 thread": 2, "1 worker x 2 threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_layout", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--preset", default="owasp", choices=sorted(PRESETS))
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    work = Path(tempfile.mkdtemp(prefix="otpbench-layout-"))
    logs = work / "logs"
    logs.mkdir()
    n_test = 64
    with (
        procs.redis_server(work / "redis", logs / "redis.log") as (redis_port, _),
        procs.simulator(PROVIDER_KEY, logs / "simulator.log") as sim_port,
    ):
        env = service_env(redis_port, sim_port, args.preset, n_test)
        env["OTP_REDIS_URL"] = f"unix://{work / 'redis' / 'redis.sock'}"
        base: dict[str, Any] = {
            "kind": "flows",
            "key": API_KEY,
            "code": TEST_CODE,
            "numbers": test_numbers(n_test),
            "concurrency": 16,
        }
        names = list(LAYOUTS)
        with (
            procs.service(env, LAYOUTS[names[0]], logs / "a.log", "granian") as port_a,
            procs.service(env, LAYOUTS[names[1]], logs / "b.log", "granian") as port_b,
        ):
            ports = {names[0]: port_a, names[1]: port_b}
            for port in ports.values():  # warm-up
                procs.measured({**base, "port": port, "duration": 2.0})
            ratios: dict[str, list[float]] = {name: [] for name in names}
            bounds = [argon2_bound(preset, 3.0)]
            for round_ in range(args.rounds):
                order = names if round_ % 2 == 0 else names[::-1]
                for name in order:
                    spec = {**base, "port": ports[name], "duration": args.seconds}
                    flows = procs.measured(spec)[0]
                    bounds.append(argon2_bound(preset, 3.0))
                    bound = (bounds[-2] + bounds[-1]) / 2
                    ratio = flows["rate"] / bound
                    ratios[name].append(round(ratio, 3))
                    print(
                        f"{name}: {flows['rate']:.2f} flows/s, bound {bound:.2f}, "
                        f"ratio {ratio:.3f}, CPU {flows['cpu_us_per_request']:.0f} µs per request",
                        flush=True,
                    )
    summary = {
        name: {"median": statistics.median(r), "min": min(r), "max": max(r), "rounds": r}
        for name, r in ratios.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
