"""Webhooks and delivery tracking on the 3-primary Cluster: the consumer groups span streams
on every shard, the per-endpoint queues and dead letters live under {g}, and each script's
keys share a slot."""

from __future__ import annotations

import json

import httpx
import pytest
from redis.cluster import RedisCluster

from otpservice.webhooks_config import endpoint_id
from tests.ops.conftest import ADMIN_KEY, Api, Sim, service_env
from tests.support.receiver import running_receiver
from tests.support.servers import ServiceServer
from tests.support.topologies import ClusterProcesses
from tests.webhooks.conftest import hooks_env, wait_until

pytestmark = pytest.mark.slow


def emit(r: RedisCluster, part: int | str, etype: str, client: str = "web") -> str:
    tag = "{g}" if part == "g" else f"{{p{part}}}"
    entry = r.xadd(
        f"otp:{tag}:ev",
        {"t": etype, "c": client, "v": "", "cc": "TR", "px": "", "ph": "", "d": json.dumps({})},
    )
    return f"evt_{part}_{entry.decode()}"


def test_cluster_webhooks_from_every_shard_retry_and_dead_letters(
    cluster: ClusterProcesses, sim: Sim
) -> None:
    cluster.flush()
    failing = {"on": False}

    def script(n: int, path: str) -> tuple[int, float]:
        if failing["on"]:
            return 500, 0.0
        return (500 if n < 3 else 200), 0.0

    with running_receiver(script) as rcv:
        env = service_env(
            cluster.url, sim, OTP_REDIS_CLUSTER="true", **hooks_env(("*", rcv, ["*"]))
        )
        with ServiceServer(env) as server:
            r = RedisCluster.from_url(cluster.url)
            wait_until(lambda: _groups_ready(r), 15)
            events = [emit(r, part, "verification.approved") for part in [*range(16), "g"]]
            rcv.wait_for(lambda x: set(events) <= x.accepted_ids(), 20)
            assert all(len(rcv.for_id(e)) == 4 for e in events)  # 500, 500, 500, 200

            failing["on"] = True
            lost = emit(r, 9, "check.failed")
            ops = httpx.Client(
                base_url=server.url,
                headers={
                    "Authorization": f"Bearer {ADMIN_KEY}",
                    "Content-Type": "application/json",
                },
            )
            eid = endpoint_id("*", rcv.url)
            wait_until(
                lambda: ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()["total"] == 1,
                15,
            )
            failing["on"] = False
            assert ops.post(f"/v1/admin/webhooks/{eid}/dead-letters/{lost}/resend").json() == {
                "queued": 1
            }
            rcv.wait_for(lambda x: lost in x.accepted_ids(), 15)
            r.close()
    assert all(d.verified for d in rcv.deliveries)


def _groups_ready(r: RedisCluster) -> bool:
    try:
        return all(
            any(g["name"].startswith(b"webhooks-") for g in r.xinfo_groups(stream))
            for stream in [f"otp:{{p{p}}}:ev" for p in range(16)] + ["otp:{g}:ev"]
        )
    except Exception:
        return False


def test_cluster_flow_events_and_delivery_reports_arrive(
    cluster: ClusterProcesses, sim: Sim
) -> None:
    cluster.flush()
    phones = ["+905321234567", "+905441234567", "+905551234567"]  # most likely several shards
    with running_receiver() as rcv:
        env = service_env(
            cluster.url, sim, OTP_REDIS_CLUSTER="true", **hooks_env(("web", rcv, ["*"]))
        )
        with ServiceServer(env) as server:
            api = Api(server.url)
            vids = []
            for phone in phones:
                vid = api.create(phone).json()["id"]
                assert api.check(vid, sim.last_code(phone[1:])).json()["status"] == "approved"
                vids.append(vid)
            wanted = {
                "verification.created",
                "send.accepted",
                "verification.approved",
                "delivery.delivered",
            }
            rcv.wait_for(
                lambda x: all(
                    {d.json["type"] for d in x.deliveries if d.json["data"]["verification_id"] == v}
                    == wanted
                    for v in vids
                ),
                20,
            )
            pending = api.create("+905061234567").json()["id"]
            wait_until(
                lambda: (
                    api.http.get(f"/v1/verifications/{pending}/delivery").json()["state"]
                    == "delivered"
                ),
                10,
            )
    assert all(d.verified for d in rcv.deliveries)
