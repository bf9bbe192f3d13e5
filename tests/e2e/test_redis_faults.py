"""Redis faults: fail closed while it is gone, recover by itself, keep state across a restart."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Api, Sim, service_env, wrong
from tests.support.servers import RedisProcess, ServiceServer

PHONE = "+905321234567"
MOBILE = "905321234567"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis of the test's own, with AOF everysec, that the test may kill and restart."""
    server = RedisProcess(
        tmp_path / "redis", args=("--appendonly", "yes", "--appendfsync", "everysec")
    ).start()
    yield server
    server.stop()


def test_redis_down_fails_closed_and_recovers_without_restart(
    own_redis: RedisProcess, sim: Sim
) -> None:
    with ServiceServer(service_env(own_redis.url, sim)) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        sent_before = len(sim.all_messages())

        own_redis.stop(graceful=False)
        with ThreadPoolExecutor(8) as pool:
            during = list(
                pool.map(
                    lambda i: api.check(vid, code) if i % 2 else api.create(f"+90532123{i:04d}"),
                    range(16),
                )
            )
        # Never an approval, never an unthrottled send: every answer is a 503 problem.
        assert {r.status_code for r in during} == {503}
        assert all(r.json()["code"] == "storage_unavailable" for r in during)
        assert len(sim.all_messages()) == sent_before
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        assert httpx.get(f"{server.url}/healthz").status_code == 200

        own_redis.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.1)
        # AOF kept the pending verification: the person's code still works.
        assert api.check(vid, code).json()["status"] == "approved"


def test_a_hung_redis_is_answered_503_in_bounded_time_and_recovered_from(
    own_redis: RedisProcess, sim: Sim
) -> None:
    """Redis accepts connections but answers nothing (stopped, not gone): every call gives
    up after the store's operation timeout instead of hanging, and nothing is sent."""
    with ServiceServer(service_env(own_redis.url, sim)) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        sent_before = len(sim.all_messages())

        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                during = list(
                    pool.map(
                        lambda i: api.check(vid, code) if i % 2 else api.create(PHONE),
                        range(4),
                    )
                )
            waited = time.monotonic() - started
            readyz = httpx.get(f"{server.url}/readyz", timeout=10).status_code
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        assert {r.status_code for r in during} == {503}
        assert all(r.json()["code"] == "storage_unavailable" for r in during)
        assert 1.5 < waited < 6.0, waited  # the 2 s operation timeout, not a hang
        assert readyz == 503
        assert len(sim.all_messages()) == sent_before

        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.1)
        assert api.check(vid, code).json()["status"] == "approved"


def test_restart_with_aof_keeps_pending_verifications_and_counters(
    own_redis: RedisProcess, sim: Sim
) -> None:
    env = service_env(own_redis.url, sim, OTP_MAX_CHECKS="5")
    with ServiceServer(env) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        api.check(vid, wrong(code))
        api.check(vid, wrong(code))
        time.sleep(1.2)  # appendfsync everysec: what is older than a second is on disk
        own_redis.stop(graceful=True)
        own_redis.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        got = api.get(vid).json()
        assert got["attempts_remaining"] == 3
        assert got["sends"] == 1
        # The resend cooldown survived too.
        assert api.create(PHONE).status_code == 429
        assert api.check(vid, code).json()["status"] == "approved"
