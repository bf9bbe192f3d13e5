"""The real processes a benchmark run starts: redis-server, the provider simulator, the
service (``otpservice serve --workers N``), the bare baseline, and load drivers.

Everything binds 127.0.0.1 and is stopped by the process id this module started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import redis

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTP_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_send(port: int, method: str, path: str, body: Any) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            if http_get(port, path, timeout=1)[0] == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answered 200 on :{port}{path}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (a server, its
    workers and their threads), from /proc/<pid>/stat. A worker's CPU is read while it
    lives, so take readings around a load while the server runs."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        # fields[0] is the state (stat field 3): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


class Proc:
    """A child in its own process group, so that a server and its workers stop together."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log: IO[bytes] = log.open("ab")
        self.popen: subprocess.Popen[bytes] = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(25)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self.log.close()


@contextlib.contextmanager
def redis_server(directory: Path, log: Path) -> Iterator[tuple[int, redis.Redis]]:
    """redis-server as in production: AOF every second, no RDB snapshots."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
    # A Unix socket beside the port, for services on the same host (unix_socket()).
    argv += ["--unixsocket", str(directory / "redis.sock"), "--unixsocketperm", "700"]
    proc = Proc("redis", argv, child_env(), log)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, client
    finally:
        client.close()
        proc.stop()


@contextlib.contextmanager
def simulator(provider_key: str, log: Path) -> Iterator[int]:
    port = free_port()
    argv = [PYTHON, "-m", "otpservice", "simulator", "--port", str(port)]
    proc = Proc("simulator", [*argv, "--api-key", provider_key], child_env(), log)
    try:
        wait_http(port, "/", proc.popen)
        # Enough balance and per-minute allowance for a whole run.
        status, body = http_send(
            port,
            "PATCH",
            f"/_admin/accounts/{provider_key}",
            {"local_balance_sms": 10_000_000, "per_minute_limit": 10_000_000},
        )
        if status != 200:
            raise RuntimeError(f"simulator admin refused: {status} {body[:200]!r}")
        yield port
    finally:
        proc.stop()


# The process group of each server this module runs, by its port (see server_cpu).
_GROUPS: dict[int, int] = {}


def server_cpu(port: int) -> float:
    """CPU seconds used so far by the server listening on ``port`` (all its processes)."""
    return group_cpu_seconds(_GROUPS[port])


@contextlib.contextmanager
def service(env: Mapping[str, str], workers: int, log: Path, server: str) -> Iterator[int]:
    """``otpservice serve --workers N``: the production entry point, in real processes."""
    port = free_port()
    argv = [PYTHON, "-m", "otpservice", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--server", server]
    proc = Proc("service", argv, child_env(env), log)
    _GROUPS[port] = proc.pid
    try:
        wait_http(port, "/readyz", proc.popen)
        time.sleep(0.5 * workers)  # every worker has started its lifespan
        yield port
    finally:
        proc.stop()
        _GROUPS.pop(port, None)


@contextlib.contextmanager
def baseline(redis_url: str, workers: int, log: Path, server: str) -> Iterator[int]:
    port = free_port()
    argv = [PYTHON, "-m", "bench.baseline", "--port", str(port), "--workers", str(workers)]
    argv += ["--server", server]
    proc = Proc("baseline", argv, child_env({"BENCH_REDIS_URL": redis_url}), log)
    _GROUPS[port] = proc.pid
    try:
        wait_http(port, "/healthz", proc.popen)
        time.sleep(0.5 * workers)
        yield port
    finally:
        proc.stop()
        _GROUPS.pop(port, None)


def loadgen(*specs: dict[str, Any], timeout: float = 600) -> list[dict[str, Any]]:
    """Run one load-driver process per spec, all at once; their JSON results in order."""
    spool = tempfile.mkdtemp(prefix="otpbench-spec-")
    procs = []
    for i, spec in enumerate(specs):
        path = Path(spool) / f"{i}.json"
        path.write_text(json.dumps(spec))
        procs.append(
            subprocess.Popen(
                [PYTHON, "-m", "bench.loadgen", str(path)],
                env=child_env(),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    results: list[dict[str, Any]] = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"load driver failed: {err.decode()[-2000:]}")
        results.append(json.loads(out))
    shutil.rmtree(spool, ignore_errors=True)
    return results


def measured(spec: dict[str, Any], *others: dict[str, Any]) -> list[dict[str, Any]]:
    """``loadgen`` with the CPU the target server (``spec["port"]``) spent meanwhile:
    ``cpu_us_per_request`` over every answer it gave to ``spec``'s load (others run
    beside it and their requests are counted too, in ``cpu_requests``)."""
    port = int(spec["port"])
    before = server_cpu(port)
    results = loadgen(spec, *others)
    spent = server_cpu(port) - before
    answered = sum(
        sum(r["statuses"].values())
        for r, s in zip(results, (spec, *others), strict=True)
        if int(s.get("port", 0)) == port
    )
    results[0]["cpu_seconds"] = round(spent, 3)
    results[0]["cpu_requests"] = answered
    results[0]["cpu_us_per_request"] = round(spent * 1e6 / answered, 1) if answered else 0.0
    return results
