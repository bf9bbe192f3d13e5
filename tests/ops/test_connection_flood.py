"""Attack: hold more connections than the server admits, idle or dribbling, against
`otpservice serve` (granian). Before the fix 1,025 idle sockets stopped an instance from
answering anything, /healthz included, and a stalled body was never timed out.

Counts are moderate here (the full figure, 5,000 idle + 1,000 dribbling, is measured by
bench/connflood.py); timeouts are scaled down to 2 s through their settings.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.conftest import OTHER_KEY
from tests.ops.conftest import Api, Sim, service_env
from tests.support.flood import Flood, raise_open_files, timed_get
from tests.support.processes import serve

IDLE = 1_100  # more than the 1,024 connections granian admitted by default
HEADER_DRIBBLERS = 100
BODY_DRIBBLERS = 20  # under the per-client in-flight cap, so each one reaches the body read
PHONE = "+905321234567"


async def test_idle_and_dribbling_connections_are_shed_and_the_service_keeps_answering(
    redis_url: str, sim: Sim, tmp_path: Path
) -> None:
    raise_open_files(IDLE + HEADER_DRIBBLERS + BODY_DRIBBLERS + 512)
    env = service_env(
        redis_url,
        sim,
        OTP_SERVER_HEADER_TIMEOUT_SECONDS="2",
        OTP_SERVER_BODY_TIMEOUT_SECONDS="2",
    )
    with serve(env, tmp_path / "log") as served:
        port = int(served.url.rsplit(":", 1)[1])
        flood = Flood("127.0.0.1", port)
        try:
            await flood.idle(IDLE)
            await flood.dribble_headers(HEADER_DRIBBLERS, every=0.5)
            await flood.dribble_bodies(
                BODY_DRIBBLERS, every=0.5, path="/v1/verifications", key=OTHER_KEY
            )
            assert flood.failed_opens == 0
            # While every connection is held: /healthz answers, and a person logs in.
            status, _ = await timed_get("127.0.0.1", port, "/healthz", within=5)
            assert status == 200
            api = Api(served.url)
            created = await asyncio.to_thread(api.create, PHONE)
            assert created.status_code == 201, created.text
            code = sim.last_code(PHONE[1:])
            checked = await asyncio.to_thread(api.check, created.json()["id"], code)
            assert checked.json()["status"] == "approved"
            # Within the timeouts (2 s, plus slack for a loaded machine), all are shed.
            deadline = time.monotonic() + 15
            while flood.open_count() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.25)
            assert flood.open_count("idle") == 0
            assert flood.open_count("header") == 0
            assert flood.open_count("body") == 0
            # A stalled body ends with a 408 problem, not a silent hold.
            answers = flood.answers("body")
            assert answers and all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
            assert all(b"request_timeout" in a for a in answers)
        finally:
            await flood.close()
        status, _ = await timed_get("127.0.0.1", port, "/healthz", within=5)
        assert status == 200
