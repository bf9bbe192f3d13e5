"""How fast the console's overview answers with a week of history for 100,000 verifications.

    .venv/bin/python -m bench.console_overview --verifications 100000 --rounds 30

Starts a redis-server, the provider simulator and ``otpservice serve`` (1 worker, console on).
Fills Redis the way the service does: each verification's events (created, send.accepted
with 1-2 SMS parts, a delivery report for most, a wrong code for some, then approved or
expired) go into its partition's stream with entry ids spread over the last 7 days, in the
CONTRACT's field layout; the statistics counters get what the event log's fold
(events/lua/stats_fold.lua) makes of them, in its layout, with each partition's fold cursor
at its last entry; refusals go into the per-day refusal counters.
Then it signs in to the console and times GET /console/overview (one request at a time,
over keep-alive HTTP): as it runs (the days before today are final, their sums cached), and
with no day final (the fold cursors removed), when every view reads the whole week's
counters again: an upper bound for a full "today". GET /v1/stats for the same week beside
it, where the build serves it.
Prints the median, p90 and worst latency in ms, and the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import procs
from otpservice.console import counters
from otpservice.domain.models import phone_tag
from otpservice.storage import keys

PROVIDER_KEY = "bench-provider-key-0001"
API_KEY = "bench-client-key-0123456789"
ADMIN_KEY = "bench-admin-key-0123456789"
CLIENTS = ("web", "android", "ios")
COUNTRIES = (("TR", 0.9), ("AZ", 0.04), ("DE", 0.03), ("GB", 0.03))
# Turkish mobile operator codes (5xx): numbers are 90 5xx yyy zzzz; a prefix drops the last 4.
OPERATOR_CODES = (*range(530, 560), 501, 505, 506, 507, 551, 552, 553, 554, 555, 559)
WEEK_MS = 7 * 86_400_000
SAMPLE_PHONES: list[str] = []  # numbers that have a history, for the search
SEARCHES: list[float] = []
STATS_WEEK = {"since": "7d"}
DROP = 4


def _env(redis_port: int, sim_port: int, secret: str) -> dict[str, str]:
    return {
        "OTP_SECRET": secret,
        "OTP_API_KEYS": f"web={API_KEY}",
        "OTP_ADMIN_API_KEYS": f"ops={ADMIN_KEY}",
        "OTP_PROVIDER_API_KEY": PROVIDER_KEY,
        "OTP_PROVIDER_BASE_URL": f"http://127.0.0.1:{sim_port}/api/v3",
        "OTP_PROVIDER_SENDER_ID": "OTPSVC",
        "OTP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "OTP_CONSOLE": "true",
        "OTP_LOG_LEVEL": "WARNING",
        "OTP_BALANCE_POLL_SECONDS": "0",
        "OTP_ALLOW_INSECURE": "1",
    }


def _phone(rng: random.Random, country: str) -> str:
    if country == "TR":
        return f"+90{rng.choice(OPERATOR_CODES)}{rng.randrange(10**7):07d}"
    start = {"AZ": "+99450", "DE": "+49151", "GB": "+447700"}[country]
    return start + f"{rng.randrange(10**6):06d}"


def _mask(e164: str) -> str:
    return e164[:-DROP] + "*" * DROP


def _events(rng: random.Random, secret: bytes, now_ms: int, n: int) -> dict[int, list[Any]]:
    """Per partition: (ms, fields) of every event, in time order."""
    streams: dict[int, list[Any]] = defaultdict(list)
    for _ in range(n):
        country = rng.choices([c for c, _ in COUNTRIES], [w for _, w in COUNTRIES])[0]
        e164 = _phone(rng, country)
        if len(SAMPLE_PHONES) < 50 and country == "TR":
            SAMPLE_PHONES.append(e164)
        tag = phone_tag(secret, e164)
        vid = tag + secrets.token_hex(8) + secrets.token_hex(16)
        base = {
            "c": rng.choice(CLIENTS),
            "v": vid,
            "cc": country,
            "px": e164[1:-DROP],
            "ph": _mask(e164),
        }
        t0 = now_ms - rng.randrange(WEEK_MS)
        parts = 2 if rng.random() < 0.1 else 1
        timeline = [
            (t0, "verification.created", {"purpose": "login"}),
            (t0, "send.accepted", {"send": 1, "parts": parts, "test": False}),
        ]
        if rng.random() < 0.85:
            timeline.append((t0 + 4_000, "delivery.delivered", {"operator": "turkcell"}))
        if rng.random() < 0.15:
            timeline.append((t0 + 20_000, "check.failed", {"attempts_remaining": 4}))
        if rng.random() < 0.72:
            timeline.append((t0 + 30_000, "verification.approved", {"attempts_remaining": 4}))
        else:
            timeline.append((t0 + 300_000, "verification.expired", {}))
        part = keys.partition_of(tag)
        for ms, etype, data in timeline:
            if ms < now_ms:
                streams[part].append((ms, {**base, "t": etype, "d": json.dumps(data)}))
    for entries in streams.values():
        entries.sort(key=lambda e: e[0])
    return streams


def fill_streams(client: redis.Redis, streams: dict[int, list[Any]]) -> int:
    written = 0
    for part, entries in streams.items():
        stream = keys.event_stream(part)
        last_ms, seq = -1, 0
        pipe = client.pipeline(transaction=False)
        for ms, fields in entries:
            seq = seq + 1 if ms == last_ms else 0
            last_ms = ms
            pipe.xadd(stream, fields, id=f"{ms}-{seq}")
            written += 1
            if len(pipe) >= 5000:
                pipe.execute()
        pipe.execute()
    return written


def fill_refusals(client: redis.Redis, rng: random.Random, now_ms: int, per_day: int) -> None:
    """Refused requests in the per-day refusal counters (minute|client|policy|country)."""
    policies = ("phone_10m", "prefix_hour", "ip_hour", "resend_cooldown", "global_minute")
    pipe = client.pipeline(transaction=False)
    for day in range(8):
        for _ in range(per_day):
            ms = now_ms - day * 86_400_000 - rng.randrange(86_400_000)
            stamp = time.gmtime(ms / 1000)
            day_key = time.strftime("%Y%m%d", stamp)
            minute = ms // 60_000  # since the epoch, as the refusing scripts count it
            field = f"{minute}|{rng.choice(CLIENTS)}|{rng.choice(policies)}|TR"
            pipe.hincrby(keys.refusals_day("g", day_key), field, 1)
    pipe.execute()


# What the event log's fold (events/lua/stats_fold.lua) counts for each event type.
FOLDED = {
    "verification.created": "started",
    "delivery.delivered": "delivered",
    "verification.approved": "approved",
    "verification.expired": "expired",
    "check.failed": "wrong_code",
}


def fill_counters(client: redis.Redis, streams: dict[int, list[Any]]) -> None:
    """The per-day counters as the fold leaves them (hour|metric|client|country|prefix),
    and each partition's fold cursor at its last entry."""
    for part, entries in streams.items():
        sums: dict[tuple[str, str], int] = defaultdict(int)
        for ms, f in entries:
            day_start = ms // 86_400_000 * 86_400_000
            day = time.strftime("%Y%m%d", time.gmtime(ms / 1000))
            hour = (ms - day_start) // 3_600_000
            tail = f"{f['c']}|{f['cc']}|{f['px']}"
            metric = FOLDED.get(f["t"])
            if metric:
                sums[(day, f"{hour}|{metric}|{tail}")] += 1
            if f["t"] == "send.accepted":
                sums[(day, f"{hour}|sent|{tail}")] += 1
                sums[(day, f"{hour}|parts|{tail}")] += json.loads(f["d"])["parts"]
        pipe = client.pipeline(transaction=False)
        for (day, field), n in sums.items():
            pipe.hincrby(keys.stats_day(part, day), field, n)
            if len(pipe) >= 5000:
                pipe.execute()
        last = client.xrevrange(keys.event_stream(part), "+", "-", count=1)
        newest = last[0][0] if last else None
        if newest is not None:
            pipe.set(keys.stats_cursor(part), newest)
        pipe.execute()


def _sign_in(http: httpx.Client) -> None:
    """Sign in as a browser would; the cookies are Secure, so over http they go by hand."""
    form = http.get("/console/sign-in")
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert match, "no sign-in form"
    done = http.post(
        "/console/sign-in",
        data={"csrf": match.group(1), "key": ADMIN_KEY},
        headers={"Cookie": f"otp_console_pre={form.cookies['otp_console_pre']}"},
    )
    assert done.status_code == 303, done.status_code
    http.headers["Cookie"] = f"otp_console={done.cookies['otp_console']}"


def time_get(http: httpx.Client, path: str, rounds: int, **kwargs: Any) -> list[float]:
    http.get(path, **kwargs).raise_for_status()  # warm: templates compiled, pools open
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = http.get(path, **kwargs)
        out.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return out


async def _time_day_reads(redis_port: int, now_ms: int) -> list[float]:
    """What one full day of counters costs the console to add up (16 partitions, through
    the summing script): the most a view ever reads afresh once the days before are final,
    i.e. the overview's cost at the end of a busy UTC day."""
    from redis.asyncio import Redis

    client = Redis(port=redis_port)
    reader = counters.Counters(client)
    today = now_ms // counters.DAY_MS * counters.DAY_MS
    out = []
    try:
        for back in range(1, 7):  # the full days of the week
            started = time.perf_counter()
            await reader._read_day(today - back * counters.DAY_MS)
            out.append((time.perf_counter() - started) * 1000)
    finally:
        await client.aclose()
    return out


def _measure(
    env: dict[str, str], log: Path, rounds: int, *, stats_too: bool
) -> tuple[list[float], list[float]]:
    with (
        procs.service(env, 1, log, "granian") as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        _sign_in(http)
        overview = time_get(http, "/console/overview", rounds)
        searches: list[float] = []
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', http.get("/console/search").text)
        assert csrf, "no search form"
        for phone in SAMPLE_PHONES[:rounds]:
            started = time.perf_counter()
            found = http.post("/console/search", data={"csrf": csrf.group(1), "q": phone})
            searches.append((time.perf_counter() - started) * 1000)
            assert found.status_code == 200, found.status_code
            assert "verification.created" in found.text
        SEARCHES.extend(searches)
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        stats: list[float] = []
        if stats_too and http.get("/v1/stats", headers=admin).status_code != 404:
            stats = time_get(http, "/v1/stats", rounds, params=STATS_WEEK, headers=admin)
    return overview, stats


def summary(name: str, ms: list[float]) -> dict[str, Any]:
    ordered = sorted(ms)
    return {
        "what": name,
        "rounds": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 1),
        "max_ms": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verifications", type=int, default=100_000)
    parser.add_argument("--refusals-per-day", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    secret = secrets.token_urlsafe(48)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            procs.redis_server(work / "redis", work / "redis.log") as (redis_port, client),
            procs.simulator(PROVIDER_KEY, work / "sim.log") as sim_port,
        ):
            now_ms = int(time.time() * 1000)
            started = time.perf_counter()
            streams = _events(rng, secret.encode(), now_ms, args.verifications)
            written = fill_streams(client, streams)
            fill_refusals(client, rng, now_ms, args.refusals_per_day)
            fill_counters(client, streams)
            filled_s = time.perf_counter() - started
            memory = client.info("memory")["used_memory"]
            env = _env(redis_port, sim_port, secret)
            day_reads = asyncio.run(_time_day_reads(redis_port, now_ms))
            overview, stats = _measure(env, work / "service.log", args.rounds, stats_too=True)
            # The worst case: no day final (no fold cursor), so every view reads the whole
            # week's counters again, as it would for a full "today" (a fresh service, so
            # nothing is cached from the first run).
            client.delete(*(keys.stats_cursor(p) for p in range(keys.PARTITIONS)))
            uncached, _ = _measure(env, work / "service2.log", args.rounds, stats_too=False)
    report = {
        "verifications": args.verifications,
        "events": written,
        "fill_seconds": round(filled_s, 1),
        "redis_used_memory_mb": round(memory / 2**20, 1),
        "load_average": os.getloadavg(),
        "results": [
            summary("GET /console/overview", overview),
            summary("GET /console/overview, every day read (no day final)", uncached),
            summary("one full day of counters added up (in process)", day_reads),
            summary("POST /console/search, a phone's history (first run)", SEARCHES[: args.rounds]),
            *([summary("GET /v1/stats (the same week)", stats)] if stats else []),
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
