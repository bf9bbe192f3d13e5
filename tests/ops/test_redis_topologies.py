"""The service on real Redis topologies: Cluster (3 primaries), Sentinel (primary + replica,
with a failover mid-flow and WAIT), an ACL user, and TLS."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis as redis_py

from tests.ops.conftest import Api, Sim, service_env
from tests.support.servers import ServiceServer, free_port
from tests.support.topologies import ClusterProcesses, SentinelProcesses, acl_redis, tls_redis

pytestmark = pytest.mark.slow

PHONE = "+905321234567"
MOBILE = PHONE[1:]


def wrong(code: str) -> str:
    return "".join(str((int(d) + 1) % 10) for d in code)


def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


def end_to_end(api: Api, sim: Sim, phone: str = PHONE) -> None:
    """Create -> read the SMS from the simulator's inbox -> a wrong and a right check."""
    created = api.create(phone)
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    code = sim.last_code(phone[1:])
    first = api.check(vid, wrong(code))
    assert first.status_code == 200
    assert first.json()["valid"] is False
    approved = api.check(vid, code)
    assert approved.json()["status"] == "approved"
    assert api.get(vid).status_code == 404  # no longer pending


def twenty_right_answers_approve_once(api: Api, sim: Sim, phone: str) -> None:
    vid = api.create(phone).json()["id"]
    code = sim.last_code(phone[1:])
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: api.check(vid, code), range(20)))
    statuses = [r.status_code for r in answers]
    approved = [r for r in answers if r.status_code == 200 and r.json()["status"] == "approved"]
    assert len(approved) == 1, statuses
    assert set(statuses) <= {200, 404}, statuses


def parallel_sends_stay_within_the_limit(api: Api, sim: Sim, phone: str, limit: int) -> None:
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: api.create(phone), range(12)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {201, 429}, statuses
    assert 1 <= statuses.count(201) <= limit
    assert len(sim.messages(phone[1:])) == statuses.count(201)


CONCURRENCY_ENV = {
    "OTP_LIMIT_PHONE_10M": "3",
    "OTP_RESEND_COOLDOWN_SECONDS": "0",
    "OTP_MAX_SENDS": "20",
    "OTP_MAX_CHECKS": "20",
    "OTP_CHECK_FREE_FAILURES": "100",
}


# -- Cluster ---------------------------------------------------------------------------------


@pytest.fixture
def cluster_env(cluster: ClusterProcesses, sim: Sim) -> dict[str, str]:
    cluster.flush()
    return service_env(cluster.url, sim, OTP_REDIS_CLUSTER="true", **CONCURRENCY_ENV)


def test_cluster_end_to_end_across_slots(cluster_env: dict[str, str], sim: Sim) -> None:
    with ServiceServer(cluster_env) as server:
        api = Api(server.url)
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        # Numbers whose keys hash to different slots (and so, most likely, nodes).
        for phone in (PHONE, "+905441234567", "+905551234567", "+905061234567"):
            end_to_end(api, sim, phone)
        # A late SMS after a resend: the previous code still approves (OTP_ACCEPT_PREVIOUS_CODE).
        vid = api.create("+905301234567").json()["id"]
        late = sim.last_code("905301234567")
        assert api.create("+905301234567").json()["sends"] == 2
        assert api.check(vid, late).json()["status"] == "approved"


def test_cluster_twenty_concurrent_right_answers_approve_once(
    cluster_env: dict[str, str], sim: Sim
) -> None:
    with ServiceServer(cluster_env) as server:
        twenty_right_answers_approve_once(Api(server.url), sim, PHONE)


def test_cluster_parallel_sends_for_one_number_stay_within_the_limit(
    cluster_env: dict[str, str], sim: Sim
) -> None:
    with ServiceServer(cluster_env) as server:
        parallel_sends_stay_within_the_limit(Api(server.url), sim, PHONE, limit=3)


def test_cluster_with_replicas_waits_for_the_shard_replica(
    replicated_cluster: ClusterProcesses, sim: Sim
) -> None:
    """DECISIONS 14 on a Cluster: WAIT goes to the shard that holds the verification."""
    replicated_cluster.flush()
    env = service_env(
        replicated_cluster.url,
        sim,
        OTP_REDIS_CLUSTER="true",
        OTP_REDIS_WAIT_REPLICAS="1",
        OTP_REDIS_WAIT_TIMEOUT_MS="300",
        **CONCURRENCY_ENV,
    )
    with ServiceServer(env) as server:
        api = Api(server.url)
        end_to_end(api, sim)
        twenty_right_answers_approve_once(api, sim, "+905441234567")
        vid = api.create("+905551234567").json()["id"]
        code = sim.last_code("905551234567")
        replicas = replicated_cluster.replica_nodes()
        assert len(replicas) == 3
        for node in replicas:
            assert node.proc is not None
            os.kill(node.proc.pid, signal.SIGSTOP)
        try:
            r = api.check(vid, code)
            assert r.status_code == 503
            assert r.json()["code"] == "storage_unavailable"
        finally:
            for node in replicas:
                assert node.proc is not None
                os.kill(node.proc.pid, signal.SIGCONT)
        until(lambda: api.check(vid, code).status_code == 200, 10, "approval once acked")


# -- Sentinel --------------------------------------------------------------------------------


@pytest.fixture
def sentinel_env(sentinel_set: SentinelProcesses, sim: Sim) -> dict[str, str]:
    sentinel_set.flush()
    return service_env(
        sentinel_set.url,
        sim,
        OTP_REDIS_SENTINEL_MASTER=SentinelProcesses.MASTER,
        OTP_REDIS_WAIT_REPLICAS="1",
        OTP_REDIS_WAIT_TIMEOUT_MS="300",
        **CONCURRENCY_ENV,
    )


def test_sentinel_end_to_end_and_concurrency(sentinel_env: dict[str, str], sim: Sim) -> None:
    with ServiceServer(sentinel_env) as server:
        api = Api(server.url)
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        end_to_end(api, sim)
        twenty_right_answers_approve_once(api, sim, "+905441234567")
        parallel_sends_stay_within_the_limit(api, sim, "+905551234567", limit=3)


def test_sentinel_failover_in_the_middle_of_a_flow(
    sentinel_set: SentinelProcesses, sentinel_env: dict[str, str], sim: Sim
) -> None:
    with ServiceServer(sentinel_env) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        assert api.check(vid, wrong(code)).json()["attempts_remaining"] == 19
        before = sentinel_set.master_port()
        after = sentinel_set.failover()
        assert after != before
        # Until the old primary rejoins as a replica, nothing acknowledges writes (WAIT 1):
        # checks fail closed with 503, never approve without a durable write.
        # (If the old primary has rejoined already, the check passes at once: fine too.)
        during = api.check(vid, code)
        seen: list[int] = [during.status_code]
        if during.status_code == 503:
            assert during.json()["code"] == "storage_unavailable"
            sentinel_set.wait_replica_online()

            def approved() -> bool:
                r = api.check(vid, code)
                seen.append(r.status_code)
                return r.status_code == 200 and r.json()["status"] == "approved"

            until(approved, 10, "an approval on the new primary")
        else:
            assert during.json()["status"] == "approved"
        assert set(seen) <= {200, 503}, seen
        # Ready again on the new primary (a load balancer would otherwise keep it out).
        until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 5, "ready")
        # A graceful failover lost nothing, and the service goes on on the new primary.
        end_to_end(api, sim, "+905551234567")


def test_sentinel_unacknowledged_write_answers_503(
    sentinel_set: SentinelProcesses, sentinel_env: dict[str, str], sim: Sim
) -> None:
    """DECISIONS 14: with a replica configured, a check whose write no replica acknowledged
    within OTP_REDIS_WAIT_TIMEOUT_MS answers 503."""
    with ServiceServer(sentinel_env) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        master = sentinel_set.master_port()
        replica = next(p for p in (sentinel_set.primary, sentinel_set.replica) if p.port != master)
        assert replica.proc is not None
        os.kill(replica.proc.pid, signal.SIGSTOP)  # the replica stops acknowledging
        try:
            r = api.check(vid, code)
            assert r.status_code == 503
            assert r.json()["code"] == "storage_unavailable"
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)
        until(lambda: api.check(vid, code).status_code == 200, 10, "approval once acked")


# -- ACL and TLS -----------------------------------------------------------------------------


def test_acl_user_and_password(tmp_path: Path, sim: Sim) -> None:
    with acl_redis(tmp_path / "acl", "otpsvc", "acl-pass-5d1e9b") as server:
        good = f"redis://otpsvc:acl-pass-5d1e9b@127.0.0.1:{server.port}/0"
        with ServiceServer(service_env(good, sim)) as service:
            assert httpx.get(f"{service.url}/readyz").status_code == 200
            end_to_end(Api(service.url), sim)
        bad = f"redis://otpsvc:wrong-pass@127.0.0.1:{server.port}/0"
        with ServiceServer(service_env(bad, sim)) as service:
            assert httpx.get(f"{service.url}/readyz").status_code == 503
            assert Api(service.url).create(PHONE).status_code == 503


def test_tls_with_a_private_ca(tmp_path: Path, sim: Sim) -> None:
    with tls_redis(tmp_path) as (port, files):
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={files['ca']}"
        with ServiceServer(service_env(url, sim)) as service:
            assert httpx.get(f"{service.url}/readyz").status_code == 200
            end_to_end(Api(service.url), sim)
        # Without the CA the server's certificate is not trusted: not ready, fail closed.
        with ServiceServer(service_env(f"rediss://127.0.0.1:{port}/0", sim)) as service:
            assert httpx.get(f"{service.url}/readyz").status_code == 503


def test_cluster_breaker_and_failover(cluster_env: dict[str, str], sim: Sim) -> None:
    """The breaker's {g} scripts and its events on 3 primaries: main refuses connections,
    backup (the simulator) sends; after two failures main is skipped, and the opening is an
    event of otp:{g}:ev."""
    closed = f"http://127.0.0.1:{free_port()}/api/v3"
    providers = [
        {"name": "main", "kind": "turkeysms", "base_url": closed, "api_key": "unused-key-0001"},
        {"name": "backup", "kind": "turkeysms", "base_url": sim.api,
         "api_key": cluster_env["OTP_PROVIDER_API_KEY"], "sender_id": "OTPSVC"},
    ]  # fmt: skip
    env = {
        **cluster_env,
        "OTP_PROVIDERS": json.dumps(providers),
        "OTP_PROVIDER_API_KEY": "",
        "OTP_PROVIDER_BASE_URL": "",
        "OTP_PROVIDER_SENDER_ID": "",
        "OTP_BREAKER_MIN_FAILURES": "2",
    }
    with ServiceServer(env) as server:
        api = Api(server.url)
        for phone in ("+905321110301", "+905441110302", "+905551110303"):
            end_to_end(api, sim, phone)
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'otp_provider_sends_total{outcome="refused",provider="main"} 2.0' in metrics
    assert 'otp_provider_sends_total{outcome="skipped",provider="main"} 1.0' in metrics
    node = cluster_env["OTP_REDIS_URL"]
    client = redis_py.RedisCluster.from_url(node, decode_responses=True)
    try:
        types = [fields["t"] for _, fields in client.xrange("otp:{g}:ev")]
    finally:
        client.close()
    assert types.count("provider.breaker_opened") == 1
