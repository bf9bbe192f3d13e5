"""Connection flood against `otpservice serve` (granian), the figure of issue 13:
with 5,000 idle and 1,000 slowly dribbling connections held open, does /healthz answer in
under 100 ms and does a legitimate create + check succeed?

    PYTHONPATH=. .venv/bin/python bench/connflood.py [--idle 5000] [--dribbling 1000]
        [--seconds 30] [--workers 1] [--header-timeout 10]

The flood keeps its counts up: every half second it opens new connections for those the
server closed (an idle socket is shed after OTP_SERVER_HEADER_TIMEOUT_SECONDS, 10 s by
default, a dribbling header the same, a dribbling body after OTP_SERVER_BODY_TIMEOUT_SECONDS).
Half the dribblers send a header a byte at a time (no key needed), half a body (with a
second client's key, so the body is read; that client's in-flight cap sheds most of them
with 503 at once, which is the admission control working). Meanwhile /healthz is timed on a
fresh connection every 100 ms (from this process; the flood runs in a child process) and a
create + check runs every 2 s with the first client's key. Writes
bench/results/connflood.json and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otpservice.simulator import SimulatorState  # noqa: E402
from tests.e2e.conftest import OTHER_KEY, PROVIDER_KEY, Sim, service_env  # noqa: E402
from tests.support.flood import Flood, raise_open_files, timed_get  # noqa: E402
from tests.support.processes import serve  # noqa: E402
from tests.support.servers import RedisProcess  # noqa: E402
from tests.support.simulator_server import running_simulator  # noqa: E402

PHONE_BASE = 905321200000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _keep_up(flood: Flood, idle: int, headers: int, bodies: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        flood.held = [h for h in flood.held if not h.closed_by_server()]
        missing = {
            "idle": idle - flood.open_count("idle"),
            "header": headers - flood.open_count("header"),
            "body": bodies - flood.open_count("body"),
        }
        if missing["idle"] > 0:
            await flood.open("idle", missing["idle"])
        if missing["header"] > 0:
            await flood.open(
                "header", missing["header"], first=b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            )
        if missing["body"] > 0:
            await flood.open("body", missing["body"], first=_body_head())
        await asyncio.sleep(0.5)


def _body_head() -> bytes:
    return (
        "POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {OTHER_KEY}\r\nContent-Length: 1000\r\n\r\n{{"
    ).encode()


async def _flows(url: str, sim: Sim, results: list[dict[str, object]], stop: asyncio.Event) -> None:
    from tests.e2e.conftest import Api

    api = Api(url)
    n = 0
    while not stop.is_set():
        phone = f"+{PHONE_BASE + n}"
        n += 1
        started = time.perf_counter()
        created = await asyncio.to_thread(api.create, phone)
        ok = created.status_code == 201
        if ok:
            code = await asyncio.to_thread(sim.last_code, phone[1:])
            checked = await asyncio.to_thread(api.check, created.json()["id"], code)
            ok = checked.status_code == 200 and checked.json().get("status") == "approved"
        results.append({"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)})
        await asyncio.sleep(2)


async def _probe(port: int, seconds: float) -> list[tuple[int, float]]:
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.append(await timed_get("127.0.0.1", port, "/healthz", within=5))
        await asyncio.sleep(0.1)
    return out


def _summary(probes: list[tuple[int, float]]) -> dict[str, float]:
    answered = [ms for status, ms in probes if status == 200]
    return {
        "probes": len(probes),
        "answered": len(answered),
        "p50_ms": round(_percentile(answered, 0.5), 1),
        "p90_ms": round(_percentile(answered, 0.9), 1),
        "p99_ms": round(_percentile(answered, 0.99), 1),
        "max_ms": round(max(answered, default=float("nan")), 1),
        "under_100ms": sum(1 for ms in answered if ms < 100),
    }


async def _flood_forever(
    port: int, idle: int, dribbling: int, ready: Any, stop: Any, held: Any, opened: Any
) -> None:
    flood = Flood("127.0.0.1", port)
    headers = dribbling // 2
    bodies = dribbling - headers
    await flood.idle(idle)
    await flood.dribble_headers(headers, every=1.0)
    await flood.dribble_bodies(bodies, every=1.0, path="/v1/verifications", key=OTHER_KEY)
    ready.set()
    stopped = asyncio.Event()
    keeper = asyncio.create_task(_keep_up(flood, idle, headers, bodies, stopped))
    while not stop.is_set():
        for i, kind in enumerate(("idle", "header", "body")):
            held[i] = flood.open_count(kind)
        opened.value = len(flood.held) + flood.failed_opens
        await asyncio.sleep(0.1)
    stopped.set()
    await asyncio.gather(keeper, return_exceptions=True)
    await flood.close()


def _flood_process(*args: Any) -> None:
    """The flood runs in its own process, so that its own event loop (thousands of sockets)
    is not what the /healthz probe measures."""
    raise_open_files(args[1] + args[2] + 4_096)
    asyncio.run(_flood_forever(*args))


async def run(args: argparse.Namespace, url: str, sim: Sim) -> dict[str, object]:
    port = int(url.rsplit(":", 1)[1])
    baseline = await _probe(port, 5)  # the same probe with no flood: this machine's floor
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    held_now = multiprocessing.Array("i", 3)
    opened = multiprocessing.Value("i", 0)
    opened_at = time.perf_counter()
    flooder = multiprocessing.Process(
        target=_flood_process,
        args=(port, args.idle, args.dribbling, ready, stop, held_now, opened),
        daemon=True,
    )
    flooder.start()
    await asyncio.to_thread(ready.wait, 120)
    ramp_seconds = time.perf_counter() - opened_at
    flows: list[dict[str, object]] = []
    flows_done = asyncio.Event()
    flow_task = asyncio.create_task(_flows(url, sim, flows, flows_done))
    healthz: list[tuple[int, float]] = []
    held: list[dict[str, int]] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        healthz.append(await timed_get("127.0.0.1", port, "/healthz", within=5))
        held.append({k: int(held_now[i]) for i, k in enumerate(("idle", "header", "body"))})
        await asyncio.sleep(0.1)
    flows_done.set()
    stop.set()
    await flow_task
    await asyncio.to_thread(flooder.join, 30)
    return {
        "idle_target": args.idle,
        "dribbling_target": args.dribbling,
        "workers": args.workers,
        "header_and_body_timeout_seconds": args.header_timeout,
        "seconds": args.seconds,
        "ramp_seconds": round(ramp_seconds, 1),
        "held_min": {k: min(h[k] for h in held) for k in ("idle", "header", "body")},
        "held_median": {k: int(statistics.median(h[k] for h in held)) for k in held[0]},
        "connections_opened": opened.value,
        "healthz_before_flood": _summary(baseline),
        "healthz": _summary(healthz),
        "flows": {
            "runs": len(flows),
            "ok": sum(1 for f in flows if f["ok"]),
            "ms": [f["ms"] for f in flows],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=5_000)
    parser.add_argument("--dribbling", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--header-timeout",
        type=int,
        default=10,
        help="OTP_SERVER_HEADER_TIMEOUT_SECONDS; 60 holds every connection for the whole run",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "connflood.json"))
    args = parser.parse_args()
    limit = raise_open_files(args.idle + args.dribbling + 4_096)
    print(f"open files limit: {limit}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisProcess(Path(tmp) / "redis").start()
        state = SimulatorState.with_account(PROVIDER_KEY, sender_id="OTPSVC")
        try:
            with running_simulator(state) as sim_url:
                sim = Sim(sim_url.root, sim_url.api)
                httpx.patch(
                    f"{sim_url.root}/_admin/accounts/{PROVIDER_KEY}",
                    json={"per_minute_limit": 10_000_000, "local_balance_sms": 10_000_000},
                ).raise_for_status()
                env = service_env(
                    redis_server.url,
                    sim,
                    OTP_LOG_LEVEL="WARNING",
                    OTP_PREFIX_BURST_NUMBERS="0",
                    OTP_LIMIT_PREFIX_HOUR="100000",
                    OTP_LIMIT_PREFIX_DAY="100000",
                    OTP_SERVER_HEADER_TIMEOUT_SECONDS=str(args.header_timeout),
                    OTP_SERVER_BODY_TIMEOUT_SECONDS=str(args.header_timeout),
                )
                with serve(env, Path(tmp) / "serve.log", workers=args.workers) as served:
                    report = asyncio.run(run(args, served.url, sim))
        finally:
            redis_server.stop()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "flows"}, indent=2))
    flows = report["flows"]
    assert isinstance(flows, dict)
    print(f"flows: {flows['ok']}/{flows['runs']} create+check succeeded, ms {flows['ms']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
