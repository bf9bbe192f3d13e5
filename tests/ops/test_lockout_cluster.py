"""The per-network limits of issue 13 on the 3-primary Cluster: the trust marker, the send
log's shares and the per-network slots all live in the phone's partition slot."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import OTHER_KEY
from tests.e2e.test_lockout import (
    ATTACKER_NETS,
    MOBILE,
    PERSON_IP,
    PHONE,
    Surfaces,
    attacker_ip,
    log_in_twilio,
    log_in_v1,
    person_code,
)
from tests.ops.conftest import Sim, service_env
from tests.support.servers import ServiceServer
from tests.support.topologies import ClusterProcesses
from tests.twilio_verify.conftest import twilio_env

pytestmark = pytest.mark.slow


def test_cluster_keeps_the_persons_reserved_share_and_verification(
    cluster: ClusterProcesses, sim: Sim
) -> None:
    cluster.flush()
    env = service_env(cluster.url, sim, OTP_REDIS_CLUSTER="true", **twilio_env())
    with ServiceServer(env) as server:
        s = Surfaces(server.url)
        log_in_v1(s, sim, device_id="cluster-device-1")
        for n, net in enumerate(ATTACKER_NETS):
            for key in ("", OTHER_KEY):
                api = s.v1.as_client(key) if key else s.v1
                assert api.create(PHONE, client_ip=attacker_ip(net, n)).status_code in (201, 429)
        assert s.v1.create(PHONE, client_ip="192.0.2.200").json()["policy"] == "phone_10m"
        # The person's own pending verification: out of reach of a check without an address.
        assert s.v1.create(PHONE, locale="tr", client_ip=PERSON_IP).status_code == 201
        code = person_code(sim)
        assert s.v1.check_phone(PHONE, code).status_code == 404
        approved = s.v1.check_phone(PHONE, code, client_ip=PERSON_IP, device_id="cluster-device-1")
        assert approved.json()["status"] == "approved"
        log_in_twilio(s, sim, header=True)
    assert len(sim.messages(MOBILE)) <= 6  # the 10-minute ceiling plus the reserved share
