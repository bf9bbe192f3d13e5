"""Where a flow's CPU goes: rounds of (argon2 bound, flows) against one service, with every
thread's CPU time and voluntary context switches (from /proc/<pid>/task) per flow.

    .venv/bin/python -m bench.flow_threads --rounds 4 --seconds 6 [--preset owasp] [--tcp]

For each round: flows/s against the bound, the cores each kind of thread used (the service's
argon2 threads are the ones at nice 10), the hash threads' CPU per flow against the bound's
(2 cores over its flows/s), and the loop threads' wake-ups per flow. The service is target
2's: `base` configuration, 2 workers, Redis over its Unix socket unless ``--tcp``."""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.hashbound import argon2_bound
from bench.run import API_KEY, PROVIDER_KEY, TEST_CODE, service_env, test_numbers
from otpservice.domain.codes import PRESETS

TICKS = os.sysconf("SC_CLK_TCK")
Snapshot = dict[tuple[str, str], tuple[str, int, int]]


def _kind(pid: str, tid: str) -> str:
    """A thread's kind: its process (the module a Python process runs) and, for the
    service's own threads, whether it is niced (the argon2 threads)."""
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    name = Path(f"/proc/{pid}/comm").read_text().strip()
    if b"-m" in cmd:
        name = cmd[cmd.index(b"-m") + 1].decode()
    thread = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    raw = Path(f"/proc/{pid}/task/{tid}/stat").read_bytes()
    nice = int(raw[raw.rfind(b")") + 2 :].split()[16])
    if name == "otpservice" and thread == "python":
        return "service argon2 threads" if nice > 0 else "service event loops"
    if name == "otpservice":
        return f"service {thread} threads"
    return name


def snapshot() -> Snapshot:
    out: Snapshot = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_bytes()
                fields = raw[raw.rfind(b")") + 2 :].split()
                status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
                switches = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
                out[(pid, tid)] = (_kind(pid, tid), int(fields[11]) + int(fields[12]), switches)
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return out


def spent(before: Snapshot, after: Snapshot) -> dict[str, tuple[float, int]]:
    """CPU seconds and voluntary switches per thread kind between two snapshots."""
    cpu: collections.Counter[str] = collections.Counter()
    switches: collections.Counter[str] = collections.Counter()
    for key, (kind, ticks, vcs) in after.items():
        _, ticks0, vcs0 = before.get(key, (kind, 0, 0))
        cpu[kind] += ticks - ticks0
        switches[kind] += vcs - vcs0
    return {k: (cpu[k] / TICKS, switches[k]) for k in cpu if cpu[k] > 0}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flow_threads", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--preset", default="owasp")
    parser.add_argument("--tcp", action="store_true", help="Redis over 127.0.0.1")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    work = Path(tempfile.mkdtemp(prefix="otpthreads-"))
    inflation: list[float] = []
    try:
        with (
            procs.redis_server(work / "redis", work / "redis.log") as (redis_port, _),
            procs.simulator(PROVIDER_KEY, work / "simulator.log") as sim_port,
        ):
            env = service_env(redis_port, sim_port, args.preset, 64)
            env |= {"OTP_EVENTS": "0", "OTP_GUARD_MODE": "off"}
            if not args.tcp:
                env["OTP_REDIS_URL"] = f"unix://{work / 'redis' / 'redis.sock'}"
            with procs.service(env, 2, work / "service.log", "granian") as port:
                spec: dict[str, Any] = {"kind": "flows", "port": port, "concurrency": 16}
                spec |= {"key": API_KEY, "code": TEST_CODE, "numbers": test_numbers(64)}
                procs.loadgen({**spec, "duration": 2.0})  # warm-up
                bounds = [argon2_bound(preset, 3)]
                for i in range(args.rounds):
                    before, started = snapshot(), time.monotonic()
                    flows = procs.loadgen({**spec, "duration": args.seconds})[0]
                    used = spent(before, snapshot())
                    seconds = time.monotonic() - started  # the window the CPU was read over
                    bounds.append(argon2_bound(preset, 3))
                    bound = (bounds[-1] + bounds[-2]) / 2
                    n = flows["units"]
                    hash_ms = used["service argon2 threads"][0] / n * 1e3
                    bound_ms = 2 / bound * 1e3
                    inflation.append(hash_ms / bound_ms - 1)
                    print(
                        f"round {i + 1}: {flows['rate']} flows/s against a bound of "
                        f"{bound:.2f} ({flows['rate'] / bound:.3f}); hash CPU per flow "
                        f"{hash_ms:.1f} ms in the service, {bound_ms:.1f} ms in the bound"
                    )
                    driver = flows["driver_cpu_seconds"]
                    print(f"  {'load driver (start-up too)':32s} {driver / seconds:6.3f} cores")
                    for kind, (cpu, switches) in sorted(used.items(), key=lambda kv: -kv[1][0]):
                        if cpu / seconds >= 0.002:
                            print(
                                f"  {kind:32s} {cpu / seconds:6.3f} cores  "
                                f"{cpu / n * 1e3:7.2f} ms/flow  {switches / n:5.1f} wake-ups/flow"
                            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if inflation:
        print(
            f"hash CPU per flow, service over bound: {statistics.mean(inflation):+.1%} on "
            f"average ({min(inflation):+.1%} to {max(inflation):+.1%})"
        )


if __name__ == "__main__":
    main()
