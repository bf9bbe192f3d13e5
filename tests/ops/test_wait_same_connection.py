"""DECISIONS 14 with one primary and its replica (no Sentinel): with OTP_REDIS_WAIT_REPLICAS=1
a check's attempt and approval wait for the replica, and that WAIT runs on the connection
that wrote them. WAIT counts only the writes of the connection it is sent on, so on another
pooled connection (one with no writes, or with older ones already replicated) it answered
"1 replica" while the replica was stopped: the check was approved on the primary alone,
and a failover then could have handed the code back (storage/direct.py).

Against ``otpservice serve``; the replica is stopped with SIGSTOP, so it stays connected
and only stops acknowledging."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.ops.conftest import Api, Sim, service_env
from tests.support.servers import RedisProcess, ServiceServer

MOBILE = "905321234577"
OTHER = "905321234578"


@pytest.fixture
def primary_and_replica(tmp_path: Path) -> Iterator[tuple[RedisProcess, RedisProcess]]:
    primary = RedisProcess(tmp_path / "primary").start()
    replica = RedisProcess(
        tmp_path / "replica", args=("--replicaof", "127.0.0.1", str(primary.port))
    ).start()
    db = redis.Redis(port=primary.port)
    deadline = time.monotonic() + 10
    while db.info("replication").get("slave0", {}).get("state") != "online":
        assert time.monotonic() < deadline, "the replica never came online"
        time.sleep(0.05)
    db.close()
    try:
        yield primary, replica
    finally:
        if replica.proc is not None:
            os.kill(replica.proc.pid, signal.SIGCONT)
        replica.stop()
        primary.stop()


def test_a_check_waits_for_the_replica_on_the_connection_that_wrote(
    primary_and_replica: tuple[RedisProcess, RedisProcess], sim: Sim
) -> None:
    primary, replica = primary_and_replica
    env = service_env(
        primary.url,
        sim,
        OTP_REDIS_WAIT_REPLICAS="1",
        OTP_REDIS_WAIT_TIMEOUT_MS="300",
        OTP_MAX_CHECKS="20",
        OTP_CHECK_FREE_FAILURES="100",  # the 503s are no wrong codes, but count as tries
        # No background writes: the service's other connections then hold no write the
        # replica missed, and a WAIT sent on one of them answers at once.
        OTP_EVENTS="0",
    )
    with ServiceServer(env) as server:
        api = Api(server.url)
        # A first check while the replica runs: the service's connections now hold writes
        # that the replica has acknowledged (it acknowledges once a second).
        first = api.create("+" + OTHER)
        assert first.status_code == 201, first.text
        approved = api.check(first.json()["id"], sim.last_code(OTHER))
        assert approved.status_code == 200 and approved.json()["valid"] is True
        created = api.create("+" + MOBILE)
        assert created.status_code == 201, created.text
        vid = created.json()["id"]
        code = sim.last_code(MOBILE)
        time.sleep(1.5)
        assert replica.proc is not None
        os.kill(replica.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(3):  # every check, whichever pooled connection it is given
                stopped = api.check(vid, code)
                assert stopped.status_code == 503, stopped.text
                assert stopped.json()["code"] == "storage_unavailable"
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)
        # Nothing was approved on the primary alone: once the replica acknowledges again,
        # the same code checks.
        deadline = time.monotonic() + 10
        while (right := api.check(vid, code)).status_code == 503:
            assert time.monotonic() < deadline, right.text
            time.sleep(0.2)
        assert right.status_code == 200 and right.json()["valid"] is True, right.text
