"""The pumping attack against the production server (`otpservice serve`, granian, two
workers): the guard's decisions are Redis's, so both workers refuse alike, and a runtime
change made through one worker reaches the other."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.ops.conftest import ADMIN_KEY, WEB_KEY, Sim, service_env
from tests.support.processes import serve


def test_pumping_one_prefix_through_two_workers(redis_url: str, sim: Sim, tmp_path: Path) -> None:
    env = service_env(redis_url, sim, OTP_GUARD_SETTLE_SECONDS="0", OTP_PREFIX_BURST_NUMBERS="0")
    with (
        serve(env, tmp_path / "log", workers=2) as s,
        httpx.Client(
            base_url=s.url, headers={"Authorization": f"Bearer {WEB_KEY}"}, timeout=30
        ) as http,
    ):
        statuses = []
        for i in range(40):  # new connections: requests land on both workers
            r = http.post(
                "/v1/verifications",
                json={"phone": f"+90532777{i:04d}"},
                headers={"Connection": "close"},
            )
            statuses.append((r.status_code, r.json().get("policy")))
        sent = sum(1 for status, _ in statuses if status == 201)
        assert sent == 5  # OTP_GUARD_MIN_SENDS settled numbers, none converted: blocked
        assert set(statuses[5:]) == {(429, "fraud_guard")}
        assert len(sim.all_messages()) == 5
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        r = http.patch("/v1/admin/policies", json={"set": {"OTP_GUARD_MODE": "off"}}, headers=admin)
        assert r.status_code == 200
        started = time.monotonic()
        fresh = iter(range(100, 10_000))
        while True:  # every worker, within 2 s
            ok = [
                http.post(
                    "/v1/verifications",
                    json={"phone": f"+90532777{next(fresh):04d}"},
                    headers={"Connection": "close"},
                ).status_code
                for _ in range(4)
            ]
            if ok == [201] * 4:
                break
            assert time.monotonic() - started < 2.5
            time.sleep(0.1)
