"""What the event log costs: flows/s and refused sends/s with events on (OTP_EVENTS=1)
and off (OTP_EVENTS=0), in alternating rounds so both see the same background load, and
the bytes one event takes in its stream.

    .venv/bin/python -m bench.events_cost --rounds 3 --seconds 4

Flows are test-number create + check (the bench's flows: test hashing preset, no provider
call); refused sends are over OTP_LIMIT_IP_HOUR=1 from one address. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import procs
from bench.run import API_KEY, PROVIDER_KEY, REFUSED_IP, TEST_CODE, service_env, test_numbers
from otpservice.storage import keys


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.events_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="events-cost-"))
    out: dict[str, Any] = {"on": {"flows": [], "refused": []}, "off": {"flows": [], "refused": []}}
    with (
        procs.redis_server(work / "redis", work / "redis.log") as (redis_port, rclient),
        procs.simulator(PROVIDER_KEY, work / "sim.log") as sim_port,
    ):
        numbers = test_numbers(200)
        base_env = service_env(redis_port, sim_port, "test", 200)
        for _ in range(args.rounds):
            for mode in ("on", "off"):
                env = {**base_env, "OTP_EVENTS": "1" if mode == "on" else "0"}
                with procs.service(env, args.workers, work / f"svc-{mode}.log", "granian") as port:
                    flow = {"kind": "flows", "port": port, "key": API_KEY, "code": TEST_CODE}
                    flow |= {"numbers": numbers, "concurrency": args.concurrency}
                    procs.loadgen({**flow, "duration": 1.0})  # warm-up
                    out[mode]["flows"].append(
                        procs.loadgen({**flow, "duration": args.seconds})[0]["rate"]
                    )
                    refused = {
                        "kind": "refused_sends",
                        "port": port,
                        "key": API_KEY,
                        "concurrency": args.concurrency,
                        "phone": "+905321234567",
                        "client_ip": REFUSED_IP,
                        "code": TEST_CODE,
                    }
                    procs.loadgen({**refused, "duration": 0.3})  # the first one is sent
                    out[mode]["refused"].append(
                        procs.loadgen({**refused, "duration": args.seconds})[0]["rate"]
                    )
                rclient.flushall()
        # Bytes per event: fill one partition's stream with real events, then measure it.
        env = {**base_env, "OTP_EVENTS": "1"}
        with procs.service(env, args.workers, work / "svc-fill.log", "granian") as port:
            flow = {"kind": "flows", "port": port, "key": API_KEY, "code": TEST_CODE}
            flow |= {"numbers": numbers, "concurrency": args.concurrency, "duration": 3.0}
            procs.loadgen(flow)
        streams = [keys.event_stream(p) for p in range(keys.PARTITIONS)]
        entries = sum(int(rclient.xlen(s)) for s in streams)
        used = sum(int(rclient.memory_usage(s, samples=0) or 0) for s in streams)
    for mode in ("on", "off"):
        for kind in ("flows", "refused"):
            out[mode][f"{kind}_median"] = statistics.median(out[mode][kind])
    out["flows_cost_pct"] = round(
        100 * (1 - out["on"]["flows_median"] / out["off"]["flows_median"]), 1
    )
    out["refused_cost_pct"] = round(
        100 * (1 - out["on"]["refused_median"] / out["off"]["refused_median"]), 1
    )
    out["events"] = entries
    out["bytes_per_event"] = round(used / max(1, entries), 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
