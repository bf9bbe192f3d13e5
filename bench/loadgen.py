"""The load driver, run as its own process: ``python -m bench.loadgen SPEC.json``.

It prints one JSON object (counts, rates, latency percentiles) on stdout. The HTTP/1.1
client is a few lines over asyncio streams with keep-alive: on a 2-core machine the load
generator shares the cores with the service, so it must cost as little CPU as possible
(httpx costs several times more per request). Every loop is bounded by a request count
and a duration, and stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

HOST = "127.0.0.1"


class HttpConn:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 (Content-Length bodies only)."""

    def __init__(self, port: int, auth: str | None = None) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.extra = f"Host: {HOST}:{port}\r\n".encode()
        if auth:
            self.extra += f"Authorization: Bearer {auth}\r\n".encode()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.extra
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.writer.write(head + b"\r\n" + body)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            lower = raw.lower()
            at = lower.find(b"content-length:")
            if at >= 0:
                length = int(lower[at + 15 : lower.find(b"\r\n", at)])
                data = await self.reader.readexactly(length) if length else b""
            elif b"transfer-encoding: chunked" in lower:
                data = await self._chunked()
            else:
                data = b""
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if b"connection: close" in lower:
            await self.close()
        return status, data

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        out = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return out
            out += chunk[:-2]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds (nearest rank)."""
    if not values:
        return {"n": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
        return round(ordered[index] * 1000, 2)

    return {
        "n": len(ordered),
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "max": round(ordered[-1] * 1000, 2),
    }


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.statuses: dict[str, int] = {}
        self.units = 0
        self.done_at: list[float] = []  # perf_counter() of each unit's completion
        self.errors = 0
        self.error_samples: list[str] = []
        self.window = (0.0, 0.0)  # closed_loop's start and deadline

    def lat(self, name: str, seconds: float) -> None:
        self.latencies.setdefault(name, []).append(seconds)

    def status(self, name: str, status: int) -> None:
        key = f"{name}:{status}"
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])


Unit = Callable[[int, HttpConn, Recorder], Awaitable[bool]]


async def closed_loop(
    spec: dict[str, Any], unit: Unit, rec: Recorder, *, auth: str | None
) -> float:
    """``concurrency`` connections, each running ``unit`` back to back until the count or
    the duration is reached. Returns the elapsed wall time."""
    concurrency = int(spec["concurrency"])
    duration = float(spec["duration"])
    max_count = int(spec.get("max_count", 10**9))
    started = time.perf_counter()
    deadline = started + duration
    issued = 0

    async def lane(slot: int) -> None:
        nonlocal issued
        conn = HttpConn(int(spec["port"]), auth)
        try:
            while time.perf_counter() < deadline and issued < max_count:
                issued += 1
                try:
                    if await unit(slot, conn, rec):
                        rec.units += 1
                        rec.done_at.append(time.perf_counter())
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    rec.error(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.01)
        finally:
            await conn.close()

    await asyncio.gather(*(lane(i) for i in range(concurrency)))
    rec.window = (started, deadline)
    return time.perf_counter() - started


def steady_rate(rec: Recorder, elapsed: float) -> float:
    """Units per second while every lane was busy: from a short ramp-up to the deadline.
    Not the whole run: the lanes' last units finish after the deadline, with fewer and
    fewer of them in flight (idle cores for a flow of hashing), and the first ones start
    all at once. Runs of under 2 s, or bounded by a count, use the whole run."""
    started, deadline = rec.window
    duration = deadline - started
    if duration < 2 or rec.units == 0 or elapsed < duration:
        return rec.units / elapsed if elapsed > 0 else 0.0
    warm = started + min(1.0, duration / 8)
    done = sum(1 for at in rec.done_at if warm <= at < deadline)
    return done / (deadline - warm)


def flow_unit(spec: dict[str, Any]) -> Unit:
    """Create for a test number (known code, no provider), then check the right code."""
    numbers: list[str] = spec["numbers"]
    code = spec["code"]
    check_body = json.dumps({"code": code}).encode()

    async def unit(slot: int, conn: HttpConn, rec: Recorder) -> bool:
        body = json.dumps({"phone": numbers[slot % len(numbers)]}).encode()
        t0 = time.perf_counter()
        status, data = await conn.request("POST", "/v1/verifications", body)
        t1 = time.perf_counter()
        rec.status("create", status)
        if status != 201:
            rec.error(f"create {status} {data[:200]!r}")
            return False
        rec.lat("create", t1 - t0)
        vid = json.loads(data)["id"]
        status, data = await conn.request("POST", f"/v1/verifications/{vid}/check", check_body)
        t2 = time.perf_counter()
        rec.status("check", status)
        if status != 200 or not json.loads(data).get("valid"):
            rec.error(f"check {status} {data[:200]!r}")
            return False
        rec.lat("check", t2 - t1)
        rec.lat("flow", t2 - t0)
        return True

    return unit


def simple_unit(name: str, method: str, make: Callable[[], tuple[str, bytes]], want: int) -> Unit:
    async def unit(slot: int, conn: HttpConn, rec: Recorder) -> bool:
        path, body = make()
        t0 = time.perf_counter()
        status, data = await conn.request(method, path, body)
        rec.lat(name, time.perf_counter() - t0)
        rec.status(name, status)
        if status != want:
            rec.error(f"{name} {status} {data[:200]!r}")
            return False
        return True

    return unit


def creates_unit(spec: dict[str, Any]) -> Unit:
    """One create per number, each number used once (memory fill, provider latency); with
    ``client_ips``, each from the address beside its number."""
    ips = spec.get("client_ips") or [None] * len(spec["numbers"])
    requests = iter(zip(spec["numbers"], ips, strict=True))

    async def unit(slot: int, conn: HttpConn, rec: Recorder) -> bool:
        number, ip = next(requests, (None, None))
        if number is None:
            return False
        fields = {"phone": number} if ip is None else {"phone": number, "client_ip": ip}
        body = json.dumps(fields).encode()
        t0 = time.perf_counter()
        status, data = await conn.request("POST", "/v1/verifications", body)
        rec.lat("create", time.perf_counter() - t0)
        rec.status("create", status)
        if status != 201:
            rec.error(f"create {status} {data[:200]!r}")
            return False
        return True

    return unit


async def probe(spec: dict[str, Any], rec: Recorder) -> float:
    """GET /healthz one after another, ``interval`` apart, for ``duration`` seconds."""
    conn = HttpConn(int(spec["port"]))
    interval = float(spec.get("interval", 0.01))
    started = time.perf_counter()
    deadline = started + float(spec["duration"])
    count = 0
    try:
        while time.perf_counter() < deadline and count < 100_000:
            count += 1
            t0 = time.perf_counter()
            try:
                status, _ = await conn.request("GET", "/healthz")
            except (OSError, asyncio.IncompleteReadError) as exc:
                rec.error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(interval)
                continue
            rec.lat("healthz", time.perf_counter() - t0)
            rec.status("healthz", status)
            rec.units += 1
            await asyncio.sleep(interval)
    finally:
        await conn.close()
    return time.perf_counter() - started


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    rec = Recorder()
    auth = spec.get("key")
    if kind == "probe":
        elapsed = await probe(spec, rec)
    else:
        unit: Unit
        if kind == "flows":
            unit = flow_unit(spec)
        elif kind == "creates":
            limit = min(int(spec.get("max_count", 10**9)), len(spec["numbers"]))
            spec = {**spec, "max_count": limit}
            unit = creates_unit(spec)
        elif kind == "refused_sends":
            body = json.dumps({"phone": spec["phone"], "client_ip": spec["client_ip"]}).encode()
            unit = simple_unit("refused_send", "POST", lambda: ("/v1/verifications", body), 429)
        elif kind == "distinct_refused":
            # Refused for their address, each for a number never sent before: no parse of a
            # number repeats (what a cache of parses cannot help with).
            ip = spec["client_ip"]
            counter = iter(range(10**9))

            def distinct() -> tuple[str, bytes]:
                n = next(counter)
                phone = f"+90{530 + n % 20}{n // 20 % 10**7:07d}"
                return "/v1/verifications", json.dumps({"phone": phone, "client_ip": ip}).encode()

            unit = simple_unit("refused_send", "POST", distinct, 429)
        elif kind == "unknown_checks":
            check = json.dumps({"code": spec["code"]}).encode()
            unit = simple_unit(
                "unknown_check",
                "POST",
                lambda: (f"/v1/verifications/{secrets.token_hex(32)}/check", check),
                404,
            )
        elif kind == "bare":
            body = json.dumps({"phone": spec["phone"], "client_ip": spec["client_ip"]}).encode()
            unit = simple_unit("bare", "POST", lambda: ("/bare", body), 200)
        else:
            raise SystemExit(f"unknown kind {kind}")
        elapsed = await closed_loop(spec, unit, rec, auth=auth)
    return {
        "kind": kind,
        "elapsed": round(elapsed, 3),
        "units": rec.units,
        "rate": round(steady_rate(rec, elapsed), 2),
        "rate_whole_run": round(rec.units / elapsed, 2) if elapsed > 0 else 0.0,
        "errors": rec.errors,
        "error_samples": rec.error_samples,
        "statuses": rec.statuses,
        "latency_ms": {name: percentiles(v) for name, v in rec.latencies.items()},
        # The driver's own CPU (it shares the cores with what it measures).
        "driver_cpu_seconds": round(time.process_time(), 3),
    }


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    try:
        import uvloop  # the same event loop the server uses, when installed
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
