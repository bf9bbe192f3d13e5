"""CPU per request and a py-spy profile of one service worker under one kind of load.

    .venv/bin/python -m bench.profile refused_sends --seconds 8 --out bench/profiles/NAME

Starts redis-server, the simulator and ``otpservice serve --workers 1`` (the benchmark's
settings), drives ``refused_sends``, ``unknown_checks``, ``distinct_refused`` (refused sends
for a new number each time: no parse is ever repeated), ``flows`` or ``bare`` (the
yardstick) with 16 connections, and prints the CPU microseconds per request of the
server's whole process group (from /proc: robust to the machine being busy, unlike
requests/s). With ``--out``, py-spy samples the worker meanwhile and writes NAME.txt
(``py-spy record -f raw``: collapsed stacks) and NAME.top.txt (own and total share of the
busiest functions)."""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench import procs
from bench.run import API_KEY, PROVIDER_KEY, REFUSED_IP, TEST_CODE, service_env, test_numbers

PY_SPY = shutil.which("py-spy") or str(Path(procs.PYTHON).parent / "py-spy")


def busiest_worker(pgid: int) -> int:
    """The process of the group that used the most CPU so far (the worker, not granian's
    supervisor)."""
    best, best_cpu = pgid, -1
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and int(fields[11]) + int(fields[12]) > best_cpu:
            best, best_cpu = int(entry), int(fields[11]) + int(fields[12])
    return best


def top_functions(collapsed: Path, n: int = 25) -> str:
    """Own and total shares of the busiest frames in py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        weight = int(count)
        samples += weight
        frames = stack.split(";")
        own[frames[-1]] += weight
        for frame in set(frames):
            total[frame] += weight
    rows = [f"{samples} samples", "", "own %  frame"]
    rows += [f"{100 * c / samples:5.1f}  {f}" for f, c in own.most_common(n)]
    rows += ["", "total %  frame"]
    rows += [f"{100 * c / samples:5.1f}  {f}" for f, c in total.most_common(n * 2)]
    return "\n".join(rows) + "\n"


def spec_for(kind: str, port: int, seconds: float) -> dict[str, Any]:
    common = {"port": port, "key": API_KEY, "concurrency": 16, "duration": seconds}
    if kind == "flows":
        return {**common, "kind": "flows", "code": TEST_CODE, "numbers": test_numbers(64)}
    if kind == "distinct_refused":
        return {**common, "kind": "distinct_refused", "client_ip": REFUSED_IP}
    return {
        **common,
        "kind": kind,
        "phone": "+905321234567",
        "client_ip": REFUSED_IP,
        "code": TEST_CODE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    kinds = ["refused_sends", "unknown_checks", "distinct_refused", "flows", "bare"]
    parser.add_argument("kind", choices=kinds)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--preset", default="test")
    parser.add_argument("--out", default="", help="py-spy output name (no extension)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the service")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="otpprof-"))
    try:
        with (
            procs.redis_server(work / "redis", work / "redis.log") as (redis_port, _),
            procs.simulator(PROVIDER_KEY, work / "simulator.log") as sim_port,
        ):
            env = service_env(redis_port, sim_port, args.preset, 64)
            env.update(item.split("=", 1) for item in args.env)
            if args.kind == "bare":
                server = procs.baseline(
                    f"redis://127.0.0.1:{redis_port}/0", args.workers, work / "s.log", "granian"
                )
            else:
                server = procs.service(env, args.workers, work / "s.log", "granian")
            with server as port:
                spec = spec_for(args.kind, port, args.seconds)
                if args.kind == "bare":
                    spec["kind"] = "bare"
                procs.loadgen({**spec, "duration": 1.0})  # warm-up (and the first send)
                spy = None
                if args.out:
                    out = Path(args.out)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    pid = busiest_worker(procs._GROUPS[port])
                    argv = [PY_SPY, "record", "-f", "raw", "-r", "200", "--gil", "--nonblocking"]
                    argv += ["-p", str(pid)]
                    argv += ["-o", f"{out}.txt", "-d", str(int(args.seconds))]
                    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                result = procs.measured(spec)[0]
                if spy is not None:
                    spy.wait(60)
                    Path(f"{args.out}.top.txt").write_text(top_functions(Path(f"{args.out}.txt")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = ("kind", "rate", "units", "errors", "cpu_us_per_request", "cpu_seconds", "statuses")
    print(json.dumps({k: result.get(k) for k in keys} | {"load": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
