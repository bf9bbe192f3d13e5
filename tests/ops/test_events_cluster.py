"""The event log on the 3-primary Cluster: each script's change and its event share one
slot (the phone's partition, or {g}), so the scripts run there unchanged."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from otpservice.domain.models import VerificationRef
from otpservice.storage import keys
from otpservice.storage.redis_store import utc_day
from tests.events.streams import raw_events, types_of
from tests.ops.conftest import Api, Sim, service_env
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
