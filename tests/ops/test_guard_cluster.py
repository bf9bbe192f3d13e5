"""The fraud guard and runtime administration on the 3-primary Redis Cluster: every script's
keys in one slot ({g}), whatever shard holds the phones."""

from __future__ import annotations

import time

import httpx

from tests.e2e.conftest import ADMIN_KEY
from tests.ops.conftest import Api, Sim, service_env
from tests.support.servers import ServiceServer
from tests.support.topologies import ClusterProcesses

GUARD = {
    "OTP_GUARD_MIN_SENDS": "3",
    "OTP_GUARD_SETTLE_SECONDS": "0",
    "OTP_GUARD_MIN_CONVERSION": "0.5",
    "OTP_PREFIX_BURST_NUMBERS": "0",
}


def test_guard_and_runtime_policy_on_a_cluster(cluster: ClusterProcesses, sim: Sim) -> None:
    cluster.flush()
    env = service_env(cluster.url, sim, OTP_REDIS_CLUSTER="true", **GUARD)
    with ServiceServer(env) as server:
        api = Api(server.url)
        admin = api.as_client(ADMIN_KEY).http
        # A conversion (phone slot, then the guard's counter under {g}), then two that never
        # convert: 1 of 3 is below 50 %, so the prefix is blocked.
        vid = api.create("+905326660000").json()["id"]
        assert api.check(vid, sim.last_code("905326660000")).json()["status"] == "approved"
        for i in (1, 2):
            assert api.create(f"+90532666000{i}").status_code == 201
        assert api.create("+905326660003").json()["policy"] == "fraud_guard"
        assert api.create("+905326660000", purpose="again").status_code == 201  # returning
        (block,) = admin.get("/v1/admin/guard/blocks").json()["blocks"]
        assert block["subject"] == "90532666" and block["evidence"]["approvals"] == 1
        assert admin.delete("/v1/admin/guard/blocks/prefix/90532666").status_code == 204
        assert api.create("+905326660004").status_code == 201
        # A runtime change, stored under {g} on whichever shard holds it.
        r = admin.patch("/v1/admin/policies", json={"set": {"OTP_LIMIT_GLOBAL_MINUTE": "1"}})
        assert r.status_code == 200 and r.json()["version"] == 1
        started = time.monotonic()
        refused = api.create("+905447770001")
        assert refused.status_code == 429 and refused.json()["policy"] == "global_minute"
        assert time.monotonic() - started < 2
        assert httpx.get(f"{server.url}/readyz").status_code == 200
