"""The event log on the 3-primary Cluster: each script's change and its event share one
slot (the phone's partition, or {g}), so the scripts run there unchanged."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from otpservice.domain.models import VerificationRef
from otpservice.storage import keys
from otpservice.storage.days import utc_day
from tests.e2e.conftest import wait_until
from tests.events.streams import raw_events, types_of
from tests.ops.conftest import ADMIN_KEY, WEB_KEY, Api, Sim, service_env
from tests.support.servers import ServiceServer
from tests.support.topologies import ClusterProcesses

pytestmark = pytest.mark.slow

PHONES = ("+905321234567", "+905441234567", "+905551234567", "+905061234567")


def wrong(code: str) -> str:
    return "".join(str((int(d) + 1) % 10) for d in code)


@pytest.fixture
def env(cluster: ClusterProcesses, sim: Sim) -> dict[str, str]:
    cluster.flush()
    return service_env(cluster.url, sim, OTP_REDIS_CLUSTER="true", OTP_PREFIX_BURST_NUMBERS="6")


def test_cluster_flows_write_their_events_in_their_partitions(
    env: dict[str, str], sim: Sim, cluster: ClusterProcesses
) -> None:
    vids = []
    with ServiceServer(env) as server:
        api = Api(server.url)
        for phone in PHONES:
            vid = api.create(phone).json()["id"]
            code = sim.last_code(phone[1:])
            assert api.check(vid, wrong(code)).status_code == 200
            assert api.check(vid, code).json()["status"] == "approved"
            vids.append(vid)
        canceled = api.create("+905321234568").json()["id"]
        assert api.cancel(canceled).status_code == 204
        # A burst of new numbers under one prefix: one prefix.blocked in the shared stream.
        answers = [api.create(f"+90532999000{i}").status_code for i in range(6)]
        assert answers[-1] == 429
        vid = api.create(PHONES[0], purpose="again").json()["id"]
        code = sim.last_code(PHONES[0][1:])
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda _: api.check(vid, code), range(20)))
        assert sum(r.status_code == 200 for r in results) == 1
    db = redis.RedisCluster.from_url(cluster.url)
    events = raw_events(db)
    db.close()
    partitions = {keys.partition_of(VerificationRef.parse(v).tag) for v in vids}
    assert len(partitions) > 1  # the flows really spread over partitions (and slots)
    for one in vids:
        assert types_of(events, one) == [
            "verification.created",
            "send.accepted",
            "check.failed",
            "verification.approved",
        ]
        stream = keys.event_stream(keys.partition_of(VerificationRef.parse(one).tag))
        assert {e["stream"] for e in events if e["v"] == one} == {stream}
    assert types_of(events, canceled)[-1] == "verification.canceled"
    assert [e["t"] for e in events if e["stream"] == keys.SHARED_EVENTS] == ["prefix.blocked"]
    assert types_of(events, vid).count("verification.approved") == 1


def test_cluster_expiries_and_statistics_are_swept_in_every_partition(
    cluster: ClusterProcesses, sim: Sim
) -> None:
    cluster.flush()
    env = service_env(
        cluster.url,
        sim,
        OTP_REDIS_CLUSTER="true",
        OTP_CODE_TTL_SECONDS="1",
        OTP_EXPIRY_SWEEP_SECONDS="0.1",
    )
    db = redis.RedisCluster.from_url(cluster.url)
    with ServiceServer(env) as server:
        api = Api(server.url)
        vids = [api.create(phone).json()["id"] for phone in PHONES]
        deadline = time.monotonic() + 5
        while types_of(raw_events(db)).count("verification.expired") < len(vids):
            assert time.monotonic() < deadline, "expiries not recorded"
            time.sleep(0.05)
    events = raw_events(db)
    for vid in vids:
        assert types_of(events, vid) == [
            "verification.created",
            "send.accepted",
            "verification.expired",
        ]
    day = utc_day(int(time.time() * 1000))
    started = sum(
        int(n)
        for part in range(keys.PARTITIONS)
        for field, n in db.hgetall(keys.stats_day(part, day)).items()
        if field.split(b"|")[1] == b"started"
    )
    db.close()
    assert started == len(vids)


def test_cluster_refusals_decided_before_redis_are_in_the_statistics(
    env: dict[str, str], cluster: ClusterProcesses
) -> None:
    with ServiceServer({**env, "OTP_PREFIX_DENY": "+90533"}) as server:
        api = Api(server.url)
        admin = api.as_client(ADMIN_KEY)
        for _ in range(2):
            assert api.create("+1 415 555 0123").json()["code"] == "country_not_allowed"
        assert api.create("+905331234567").json()["code"] == "prefix_denied"
        assert api.check("not-an-id", "123456").status_code == 404
        assert api.create(PHONES[0]).status_code == 201
        assert api.create(PHONES[0]).status_code == 429  # resend_cooldown, counted in its script
        expected = {"country_not_allowed": 2, "not_found": 1, "prefix_denied": 1}
        expected_total = {**expected, "resend_cooldown": 1}

        def refusals(key: str = WEB_KEY, **params: str) -> Any:
            r = api.as_client(key).http.get("/v1/stats", params=params)
            assert r.status_code == 200, r.text
            return r.json()

        wait_until(lambda: refusals()["total"]["refusals"] == expected_total, timeout=5)
        by_client = {
            g["key"]: g["refusals"] for g in refusals(ADMIN_KEY, group_by="client")["groups"]
        }
        by_country = {g["key"]: g["refusals"] for g in refusals(group_by="country")["groups"]}
        assert admin.http.get("/v1/stats").json()["total"]["refusals"] == expected_total
    assert by_client == {"web": expected_total}
    assert by_country == {
        "US": {"country_not_allowed": 2},
        "TR": {"prefix_denied": 1, "resend_cooldown": 1},
        "": {"not_found": 1},
    }
    db = redis.RedisCluster.from_url(cluster.url)
    shared = db.hgetall(keys.refusals_day("g", utc_day(int(time.time() * 1000))))
    db.close()
    assert sum(int(n) for n in shared.values()) == 4  # the ones decided before Redis
