"""The console on the 3-primary Cluster: sessions and the sign-in delay live under {g}, and
the Live and Search pages read the event streams of partitions spread over the nodes."""

from __future__ import annotations

import re

import pytest

from otpservice.domain.models import VerificationRef
from otpservice.storage import keys
from tests.ops.conftest import ADMIN_KEY, Api, Sim, service_env
from tests.support.console import ConsoleHttp
from tests.support.servers import ServiceServer
from tests.support.topologies import ClusterProcesses

pytestmark = pytest.mark.slow

PHONES = ("+905321234567", "+905441234567", "+905551234567")


def test_console_signs_in_and_reads_every_partition_on_the_cluster(
    cluster: ClusterProcesses, sim: Sim
) -> None:
    cluster.flush()
    env = service_env(cluster.url, sim, OTP_REDIS_CLUSTER="true", OTP_CONSOLE="true")
    with ServiceServer(env) as server:
        console = ConsoleHttp(server.url)
        assert console.sign_in("wrong-admin-key-0123456789").status_code == 401
        assert console.sign_in(ADMIN_KEY).status_code == 303
        live = console.get("/console/live")
        assert live.status_code == 200
        cursor = re.search(r'data-cursor="([^"]*)"', live.text)
        assert cursor
        api = Api(server.url)
        vids = []
        for phone in PHONES:
            vid = api.create(phone).json()["id"]
            assert api.check(vid, sim.last_code(phone[1:])).json()["status"] == "approved"
            vids.append(vid)
        parts = {keys.partition_of(VerificationRef.parse(v).tag) for v in vids}
        assert len(parts) > 1
        fresh = console.get("/console/live/events", after=cursor.group(1)).json()
        approved = {
            e["verification"] for e in fresh["events"] if e["type"] == "verification.approved"
        }
        assert approved == set(vids)
        # Nothing twice: the cursor moved past what was just shown.
        again = console.get("/console/live/events", after=fresh["cursor"]).json()
        assert again["events"] == []
        found = console.post("/console/search", {"q": PHONES[1]})
        assert found.status_code == 200
        assert vids[1][:12] in found.text and vids[0][:12] not in found.text
        assert "+90544123****" in found.text and PHONES[1] not in found.text
        assert console.post("/console/sign-out", {}).status_code == 303
        assert console.get("/console/overview").status_code == 303
