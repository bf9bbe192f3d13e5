"""SIGKILL `otpservice serve` while creates and checks run, then compare every verification
record in Redis with the event log: no state without its event, no event without its state
(each script writes its change and its event in one step)."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis

from otpservice.storage import keys
from tests.e2e.conftest import WEB_KEY, Sim, service_env
from tests.events.streams import raw_events
from tests.support.processes import kill_instance, serve

STATUS, SENDS, RID = 5, 7, 0  # verification.lua's fields, 0-based
UNPACK = (
    "local raw = redis.call('GET', KEYS[1]) if not raw then return {} end "
    "return cmsgpack.unpack(raw)"
)


def _records(db: redis.Redis) -> dict[tuple[str, str], list[Any]]:
    """(phone tag hex, rid hex) -> the record's fields, for every verification in Redis."""
    found = {}
    for key in db.scan_iter("otp:{p*}:*:v:*"):
        # Decoded by Redis' own cmsgpack: the record's binary fields are MessagePack str.
        fields = db.eval(UNPACK, 1, key)
        if not fields:
            continue
        fields[STATUS] = fields[STATUS].decode()
        compact = key.decode().split(":")[2]
        tag = base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4)).hex()
        found[(tag, bytes(fields[RID]).hex())] = fields
    return found


def test_a_killed_instance_leaves_no_state_without_its_event_and_no_event_without_state(
    sim: Sim, redis_url: str, tmp_path: Path
) -> None:
    env = service_env(
        redis_url,
        sim,
        OTP_RESEND_COOLDOWN_SECONDS="0",
        OTP_MAX_SENDS="20",
        OTP_MAX_CHECKS="3",
        OTP_LIMIT_PHONE_10M="1000",
        OTP_LIMIT_PHONE_24H="1000",
        OTP_LIMIT_PHONE_NET_10M="1000",
        OTP_LIMIT_PHONE_NET_24H="1000",
        OTP_LIMIT_CLIENT_MINUTE="100000",
        OTP_LIMIT_GLOBAL_MINUTE="100000",
        OTP_LIMIT_PREFIX_HOUR="100000",
        OTP_PREFIX_BURST_NUMBERS="0",
        OTP_CHECK_FREE_FAILURES="1000",
        OTP_GUARD_MODE="off",
    )
    stop = threading.Event()
    answered = Counter[str]()

    def drive(worker: int, url: str) -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {WEB_KEY}"}, timeout=5
        ) as http:
            i = 0
            while not stop.is_set():
                phone = f"+90532{worker:02d}{i % 40:05d}"
                i += 1
                try:
                    r = http.post("/v1/verifications", json={"phone": phone})
                    answered[f"create {r.status_code}"] += 1
                    if r.status_code == 201:
                        vid = r.json()["id"]
                        code = "000000" if i % 3 else sim.last_code(phone[1:])
                        r = http.post(f"/v1/verifications/{vid}/check", json={"code": code})
                        answered[f"check {r.status_code}"] += 1
                except httpx.HTTPError:
                    answered["cut"] += 1  # the kill cuts requests in flight

    with serve(env, tmp_path / "serve.log", workers=2) as served:
        threads = [
            threading.Thread(target=drive, args=(n, served.url), daemon=True) for n in range(8)
        ]
        for t in threads:
            t.start()
        time.sleep(3.0)
        kill_instance(served.proc.pid)
        stop.set()
        for t in threads:
            t.join(10)
    assert answered["create 201"] >= 10 and answered["check 200"] >= 5, answered

    db = redis.Redis.from_url(redis_url)
    records = _records(db)
    events = [e for e in raw_events(db) if e["stream"] != keys.SHARED_EVENTS]
    db.close()
    by_vid: dict[tuple[str, str], list[str]] = {}
    for e in events:
        by_vid.setdefault((e["v"][:16], e["v"][32:]), []).append(e["t"])
    assert len(records) >= 8  # real state to compare
    for ref, fields in records.items():
        types = by_vid.get(ref, [])
        # No state without its event.
        assert types.count("verification.created") == 1, (ref, types)
        assert types.count("send.accepted") == fields[SENDS], (ref, types, fields[SENDS])
        terminal = {
            "approved": "verification.approved",
            "max_attempts_reached": "verification.max_attempts_reached",
            "canceled": "verification.canceled",
        }
        status = fields[STATUS]
        for state, etype in terminal.items():
            assert types.count(etype) == (1 if status == state else 0), (ref, status, types)
    # No event without its state: every verification an event names is in Redis, as it says.
    for ref, types in by_vid.items():
        if types == ["send.failed"] * len(types):
            continue  # a failed first send leaves no verification, by design
        assert ref in records, (ref, types)
