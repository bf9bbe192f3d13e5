"""A right code's approval and the guard's record that the number converted go to Redis in
one round trip (two scripts under different hash tags, written together on one connection);
a guard write that fails costs the guard one conversion, never the person their login."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from otpservice.storage import direct
from tests.e2e.conftest import ServiceFactory, Sim
from tests.support.leaks import COLLECTOR

PHONE = "+905321110001"
MARKERS = {
    "Check, step 3 after a right code": "check_approve",
    "After an approval (shared tag)": "guard_approve",
}


def _name(source: bytes) -> str:
    text = source.decode()
    return next((name for marker, name in MARKERS.items() if marker in text), "other")


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every script exchange with Redis on a single node, as the scripts it carried."""
    seen: list[list[str]] = []
    single, pair = direct.script_exchange, direct.exchange_pair

    async def one(conn: Any, sha: str, source: bytes, *rest: Any) -> Any:
        seen.append([_name(source)])
        return await single(conn, sha, source, *rest)

    async def two(conn: Any, calls: Any) -> Any:
        seen.append([_name(source) for _, source, _, _ in calls])
        return await pair(conn, calls)

    monkeypatch.setattr(direct, "script_exchange", one)
    monkeypatch.setattr(direct, "exchange_pair", two)
    return seen


def _approvals(seen: list[list[str]]) -> list[list[str]]:
    return [e for e in seen if {"check_approve", "guard_approve"} & set(e)]


def test_an_approval_and_its_conversion_take_one_round_trip(
    make_service: ServiceFactory, sim: Sim, redis_url: str, exchanges: list[list[str]]
) -> None:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    with make_service() as api:
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(PHONE)
        sent = r.keys("otp:{g}:gps:*")
        assert len(sent) == 1 and r.zcard(sent[0]) == 1  # the send awaits its conversion
        exchanges.clear()
        assert api.check(vid, code).json()["status"] == "approved"
    assert _approvals(exchanges) == [["check_approve", "guard_approve"]]
    approved = r.keys("otp:{g}:gpa:*")
    assert len(approved) == 1 and r.zcard(approved[0]) == 1  # converted
    assert r.zcard(sent[0]) == 0
    r.close()


def test_a_failed_conversion_write_leaves_the_approval_standing(
    make_service: ServiceFactory, sim: Sim, redis_url: str, exchanges: list[list[str]]
) -> None:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    with make_service() as api:
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(PHONE)
        (sent,) = r.keys("otp:{g}:gps:*")
        r.delete(sent)
        r.set(sent, "not a sorted set")  # guard_approve's ZSCORE now fails (WRONGTYPE)
        mark = COLLECTOR.mark()
        answer = api.check(vid, code)
        assert answer.status_code == 200 and answer.json()["status"] == "approved"
        events = [e["event"] for e in COLLECTOR.events_since(mark)]
    assert _approvals(exchanges) == [["check_approve", "guard_approve"]]
    assert "guard.approval_not_recorded" in events
    assert r.get(sent) == "not a sorted set"
    r.close()
