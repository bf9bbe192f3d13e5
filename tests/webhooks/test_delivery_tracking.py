"""Delivery tracking against the simulator's per-number delivery outcomes: polled on the
schedule, recorded once with its event, read without provider calls, one poller per message,
a global poll budget."""

from __future__ import annotations

import json
import time

import redis

from otpservice.storage import keys
from tests.support.receiver import running_receiver
from tests.webhooks.conftest import ServiceFactory, Sim, hooks_env, wait_until

PHONE = "+905321234567"
FAST = {"OTP_DELIVERY_POLL_SCHEDULE": "0.1,0.3,0.6"}
LAST_POLL = 0.6


def delivery_events(redis_url: str, vid: str) -> list[dict[str, object]]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    stream = keys.event_stream(keys.partition_of(vid[:16]))
    entries = r.xrange(stream)
    r.close()
    return [
        {**f, "d": json.loads(f["d"])}
        for _, f in entries
        if f["t"].startswith("delivery.") and f["v"] == vid
    ]


def status_calls(sim: Sim) -> int:
    return sim.status_calls()  # type: ignore[attr-defined, no-any-return]


def test_a_report_is_recorded_once_with_its_event_and_pushed(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    sim.delivery(PHONE[1:], "out_of_coverage")
    with (
        running_receiver() as rcv,
        make_service(**hooks_env(("web", rcv, ["delivery.*"]))) as api,
    ):
        vid = api.create(PHONE).json()["id"]
        other = api.create("+905441234567").json()["id"]  # delivered: the simulator's default
        read = lambda v: api.http.get(f"/v1/verifications/{v}/delivery").json()  # noqa: E731
        wait_until(lambda: read(vid)["state"] == "out_of_coverage", 10)
        wait_until(lambda: read(other)["state"] == "delivered", 10)
        rcv.wait_for(lambda r: len(r.deliveries) == 2)
        time.sleep(LAST_POLL + 0.3)  # past the whole schedule: no second event, no more polls
        report = read(vid)
        events = delivery_events(redis_url, vid)
        calls = status_calls(sim)
    assert report["operator"] and report["provider_code"] == "TS-1023"
    assert [e["t"] for e in events] == ["delivery.out_of_coverage"]
    assert events[0]["c"] == "web" and events[0]["ph"] == "+90532123****"
    assert events[0]["d"]["state"] == "out_of_coverage"  # type: ignore[index]
    assert [e["t"] for e in delivery_events(redis_url, other)] == ["delivery.delivered"]
    assert calls == 2  # one poll each: the first answer was final
    assert sorted(rcv.types()) == ["delivery.delivered", "delivery.out_of_coverage"]
    assert all(d.verified for d in rcv.deliveries)


def test_200_reads_are_not_200_provider_calls(make_service: ServiceFactory, sim: Sim) -> None:
    sim.delivery(PHONE[1:], "pending")  # never final: polled on the whole schedule, then no more
    with make_service(**FAST) as api:
        vid = api.create(PHONE).json()["id"]
        answers = [api.http.get(f"/v1/verifications/{vid}/delivery") for _ in range(200)]
        wait_until(lambda: status_calls(sim) >= 3, 10)
        time.sleep(LAST_POLL)  # no fourth poll comes
        calls = status_calls(sim)
    assert {(r.status_code, r.json().get("state")) for r in answers} == {(200, "pending")}
    assert calls == 3  # the schedule's three polls, whatever the reads


def test_two_instances_poll_each_message_once(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    phones = [f"+90532{i}234567" for i in range(6)]  # other prefixes: the guard stays calm
    with make_service(**FAST) as first, make_service(**FAST):
        vids = [first.create(p).json()["id"] for p in phones]
        wait_until(
            lambda: all(
                first.http.get(f"/v1/verifications/{v}/delivery").json()["state"] == "delivered"
                for v in vids
            ),
            10,
        )
        time.sleep(LAST_POLL + 0.3)
        calls = status_calls(sim)
        per_vid = [len(delivery_events(redis_url, v)) for v in vids]
    assert calls == len(phones)
    assert per_vid == [1] * len(phones)


def test_the_poll_budget_caps_polls_across_instances(
    make_service: ServiceFactory, sim: Sim
) -> None:
    phones = [f"+90544{i}234567" for i in range(5)]
    env = {**FAST, "OTP_DELIVERY_POLLS_PER_MINUTE": "2"}
    with make_service(**env) as first, make_service(**env) as second:
        vids = [first.create(p).json()["id"] for p in phones]
        wait_until(lambda: status_calls(sim) >= 2, 10)
        time.sleep(LAST_POLL + 0.3)  # every message is due: the budget holds three back
        calls = status_calls(sim)
        states = [first.http.get(f"/v1/verifications/{v}/delivery").json()["state"] for v in vids]
        # Whichever instance took the messages over the budget counted them deferred.
        metrics = first.http.get("/metrics").text + second.http.get("/metrics").text
    assert calls == 2
    assert sorted(states) == ["delivered", "delivered", "pending", "pending", "pending"]
    assert 'otp_delivery_polls_total{outcome="deferred"}' in metrics


def test_a_failing_status_endpoint_is_retried_on_schedule_and_reads_stay_served(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_DELIVERY_POLL_SCHEDULE="0.4,1.0") as api:
        vid = api.create(PHONE).json()["id"]
        sim.fault("html", times=1)  # the first poll gets an HTML error page
        read = lambda: api.http.get(f"/v1/verifications/{vid}/delivery")  # noqa: E731
        wait_until(lambda: status_calls(sim) == 1, 10)
        during = read()
        wait_until(lambda: read().json()["state"] == "delivered", 10)
        calls = status_calls(sim)
        metrics = api.http.get("/metrics").text
    assert during.status_code == 200 and during.json()["state"] == "pending"
    assert calls == 2
    assert 'otp_delivery_polls_total{outcome="error"} 1.0' in metrics
