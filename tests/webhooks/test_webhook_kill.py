"""At least once across a crash: an `otpservice serve` instance SIGKILLed in the middle of
deliveries loses none of them; the next instance delivers what the dead one held."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from tests.support.processes import kill_instance, serve
from tests.support.receiver import running_receiver
from tests.webhooks.conftest import Sim, hooks_env, service_env, wait_until

EVENTS = 30


def test_a_sigkilled_instance_loses_no_delivery(redis_url: str, sim: Sim, tmp_path: Path) -> None:
    with running_receiver(lambda n, path: (200, 0.3)) as rcv:
        env = service_env(
            redis_url,
            sim,
            OTP_ALLOW_INSECURE="1",
            **hooks_env(("web", rcv, ["*"]), OTP_WEBHOOK_CONCURRENCY="2"),
        )
        r = redis.Redis.from_url(redis_url)
        with serve(env, tmp_path / "first.log") as first:
            wait_until(lambda: _has_group(r), 15)
            ids = []
            for i in range(EVENTS):
                entry = r.xadd(
                    f"otp:{{p{i % 16}}}:ev",
                    {
                        "t": "send.accepted",
                        "c": "web",
                        "v": "",
                        "cc": "TR",
                        "px": "",
                        "ph": "",
                        "d": json.dumps({"n": i}),
                    },
                )
                ids.append(f"evt_{i % 16}_{entry.decode()}")
            rcv.wait_for(lambda x: len(x.accepted_ids()) >= 4 and x.in_flight > 0)
            kill_instance(first.proc.pid)  # with deliveries in flight and most still queued
            first.proc.wait(10)
            held = len(set(ids) - rcv.accepted_ids())
        assert held > 0
        with serve(env, tmp_path / "second.log"):
            rcv.wait_for(lambda x: set(ids) <= x.accepted_ids(), 30)
        r.close()
    assert all(d.verified for d in rcv.deliveries)


def _has_group(r: redis.Redis) -> bool:
    try:
        return any(g["name"].startswith(b"webhooks-") for g in r.xinfo_groups("otp:{p15}:ev"))
    except redis.ResponseError:
        return False
