"""What OTP_ACCEPT_PREVIOUS_CODE costs a check: after a resend a wrong code is verified
against two argon2 hashes (the current code's, then the previous one's) instead of one.

    .venv/bin/python -m bench.previous_code --rounds 20

Starts a redis-server, the provider simulator and ``otpservice serve`` (1 worker,
OTP_HASH_PRESET=owasp, limits raised) once with the setting on and once off. Each round
creates a verification for a fresh number, resends it, and times (one request at a time,
over keep-alive HTTP) a wrong-code check and a check with the code before the resend.
Prints the median and p90 latency per case, in ms; the machine's load average beside them.
On a shared machine the latencies follow the load; the CPU time of the hashing a wrong check
does (the service's own CodeHasher, one hash against two, ``time.thread_time``) does not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import procs
from otpservice.domain.codes import PRESETS, CodeHasher

PROVIDER_KEY = "bench-provider-key-0001"
API_KEY = "bench-client-key-0123456789"
CODE = re.compile(r"\b(\d{6})\b")


def _env(redis_port: int, sim_port: int, accept_previous: bool) -> dict[str, str]:
    env = {
        "OTP_SECRET": secrets.token_urlsafe(48),
        "OTP_API_KEYS": f"bench={API_KEY}",
        "OTP_PROVIDER_API_KEY": PROVIDER_KEY,
        "OTP_PROVIDER_BASE_URL": f"http://127.0.0.1:{sim_port}/api/v3",
        "OTP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "OTP_HASH_PRESET": "owasp",
        "OTP_RESEND_COOLDOWN_SECONDS": "0",
        "OTP_ACCEPT_PREVIOUS_CODE": "true" if accept_previous else "false",
        "OTP_PREFIX_BURST_NUMBERS": "0",
        "OTP_LOG_LEVEL": "WARNING",
        "OTP_BALANCE_POLL_SECONDS": "0",
    }
    for name in ("PHONE_10M", "PHONE_24H", "CLIENT_MINUTE", "GLOBAL_MINUTE", "GLOBAL_DAY"):
        env[f"OTP_LIMIT_{name}"] = "10000000"
    for name in ("COUNTRY_HOUR", "COUNTRY_DAY", "PREFIX_HOUR", "PREFIX_DAY"):
        env[f"OTP_LIMIT_{name}"] = "10000000"
    return env


def _last_code(sim: httpx.Client, phone: str) -> str:
    messages = sim.get("/inbox", params={"mobile": phone[1:]}).json()["messages"]
    match = CODE.search(messages[0]["text"])
    assert match, "no code in the SMS"
    return match.group(1)


def _wrong(code: str) -> str:
    return "".join(str((int(d) + 1) % 10) for d in code)


def _timed(api: httpx.Client, vid: str, code: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    r = api.post(f"/v1/verifications/{vid}/check", json={"code": code})
    elapsed = time.perf_counter() - started
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return elapsed * 1000, body


def measure(accept_previous: bool, rounds: int, work: Path) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {"wrong code after a resend": [], "previous code": []}
    with (
        procs.redis_server(work / f"redis-{accept_previous}", work / "redis.log") as (rport, _),
        procs.simulator(PROVIDER_KEY, work / "sim.log") as sport,
        procs.service(
            _env(rport, sport, accept_previous), 1, work / "service.log", "granian"
        ) as port,
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        ) as api,
        httpx.Client(base_url=f"http://127.0.0.1:{sport}", timeout=10) as sim,
    ):
        for n in range(rounds + 2):  # the first two warm the worker up
            phone = f"+90532{os.getpid() % 10}{n:06d}"
            vid = api.post("/v1/verifications", json={"phone": phone}).json()["id"]
            previous = _last_code(sim, phone)
            api.post("/v1/verifications", json={"phone": phone}).raise_for_status()
            current = _last_code(sim, phone)
            guess = next(c for c in (_wrong(previous), _wrong(_wrong(previous))) if c != current)
            wrong_ms, _ = _timed(api, vid, guess)
            late_ms, late = _timed(api, vid, previous)
            if late["valid"] is not accept_previous and previous != current:
                raise RuntimeError("the previous code was not handled as configured")
            if n >= 2:
                times["wrong code after a resend"].append(wrong_ms)
                times["previous code"].append(late_ms)
    return {
        case: {
            "median_ms": round(statistics.median(values), 1),
            "p90_ms": round(statistics.quantiles(values, n=10)[-1], 1),
            "n": len(values),
        }
        for case, values in times.items()
    }


def hashing_cpu(rounds: int) -> dict[str, float]:
    """CPU ms of a wrong check's hashing: against the current code only, and against the
    current and the previous code (what OTP_ACCEPT_PREVIOUS_CODE adds after a resend)."""
    hasher = CodeHasher(b"bench-secret-bench-secret-bench-secret", PRESETS["owasp"])
    one: list[float] = []
    two: list[float] = []
    for _ in range(rounds):
        vid = os.urandom(32).hex()
        stored = [hasher.hash(vid, "login", "123456"), hasher.hash(vid, "login", "654321")]
        started = time.thread_time()
        assert not hasher.matches(stored[0], vid, "login", "000000")
        one.append((time.thread_time() - started) * 1000)
        started = time.thread_time()
        assert not any(hasher.matches(s, vid, "login", "000000") for s in stored)
        two.append((time.thread_time() - started) * 1000)
    return {
        "one hash, median cpu ms": round(statistics.median(one), 1),
        "two hashes, median cpu ms": round(statistics.median(two), 1),
        "n": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otpbench-prev-") as tmp:
        work = Path(tmp)
        result = {
            "load_average_before": os.getloadavg(),
            "wrong check hashing (owasp)": hashing_cpu(args.rounds),
            "accept_previous_code=true": measure(True, args.rounds, work),
            "accept_previous_code=false": measure(False, args.rounds, work),
            "load_average_after": os.getloadavg(),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
