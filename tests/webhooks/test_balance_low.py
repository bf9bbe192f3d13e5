"""provider.balance_low: one event per crossing of the threshold, not one per poll, whichever
of several instances polls."""

from __future__ import annotations

import json

import redis

from tests.webhooks.conftest import ServiceFactory, Sim, wait_until


def low_events(redis_url: str) -> list[dict[str, object]]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    entries = r.xrange("otp:{g}:ev")
    r.close()
    return [
        {**fields, "d": json.loads(fields["d"])}
        for _, fields in entries
        if fields["t"] == "provider.balance_low"
    ]


def polls(sim: Sim) -> int:
    return sim.state.provider_requests  # type: ignore[attr-defined, no-any-return]


def test_balance_low_is_one_event_per_crossing(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    env = {"OTP_BALANCE_POLL_SECONDS": "0.05", "OTP_LOW_BALANCE_SMS": "500"}
    sim.account(local_balance_sms=400)
    with make_service(**env), make_service(**env):  # two instances poll the same provider
        wait_until(lambda: polls(sim) >= 10, 10)
        first = low_events(redis_url)
        sim.account(local_balance_sms=5000)  # above: armed again, no event
        seen = polls(sim)
        wait_until(lambda: polls(sim) >= seen + 6, 10)
        assert len(low_events(redis_url)) == 1
        sim.account(local_balance_sms=100)
        wait_until(lambda: len(low_events(redis_url)) == 2, 10)
        seen = polls(sim)
        wait_until(lambda: polls(sim) >= seen + 6, 10)
        events = low_events(redis_url)
    assert len(first) == 1
    assert len(events) == 2
    assert first[0]["d"] == {
        "local_sms": 400,
        "threshold": 500,
        "international_tl": 1000,
        "provider": "primary",
    }
    assert events[1]["d"]["local_sms"] == 100  # type: ignore[index]
    assert first[0]["c"] == "" and first[0]["ph"] == ""
