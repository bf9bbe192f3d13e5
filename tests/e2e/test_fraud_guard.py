"""The fraud guard end to end: enforce and monitor modes, returning customers, the safe
list, events with their evidence, metrics — the service in a real server, Redis, the
simulator."""

from __future__ import annotations

import json

import httpx
import redis

from tests.e2e.conftest import Api, ServiceFactory, Sim

# Small numbers so a few requests decide: 3 settled numbers judge a prefix, sends settle
# at once, and a prefix needs half its numbers approved.
GUARD = {
    "OTP_GUARD_MIN_SENDS": "3",
    "OTP_GUARD_SETTLE_SECONDS": "0",
    "OTP_GUARD_MIN_CONVERSION": "0.5",
    "OTP_PREFIX_BURST_NUMBERS": "0",
}
PREFIX = "90532111"


def number(i: int, prefix: str = PREFIX) -> str:
    return f"+{prefix}{i:04d}"


def events(redis_url: str, etype: str) -> list[dict[str, str]]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [f for _, f in r.xrange("otp:{g}:ev") if f["t"] == etype]
    finally:
        r.close()


def metric(base_url: str, line_start: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


def test_enforce_blocks_an_unconverted_prefix_with_evidence(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(**GUARD) as api:
        for i in range(3):
            assert api.create(number(i)).status_code == 201
        blocked = api.create(number(3))
        assert blocked.status_code == 429
        body = blocked.json()
        assert body["code"] == "rate_limited" and body["policy"] == "fraud_guard"
        assert 3500 <= int(blocked.headers["Retry-After"]) <= 3600
        # The block holds for every number under the prefix, and only that prefix.
        assert api.create(number(9)).json()["policy"] == "fraud_guard"
        assert api.create(number(0, "90532112")).status_code == 201
        assert metric(api.base_url, 'otp_guard_events_total{kind="guard_blocked"}') == 1
    assert len(sim.all_messages()) == 4
    (event,) = events(redis_url, "guard.blocked")
    data = json.loads(event["d"])
    assert data["sends"] == 3 and data["approvals"] == 0 and data["strikes"] == 1
    assert data["scope"] == "prefix" and data["mode"] == "enforce"
    assert data["block_seconds"] == 3600 and data["window_seconds"] == 86400
    assert event["px"] == PREFIX and event["cc"] == "TR" and event["c"] == "web"
    assert event["ph"].endswith("****") and "0003" not in event["ph"]


def test_converting_prefix_is_not_blocked_and_returning_customers_pass_a_block(
    make_service: ServiceFactory, sim: Sim
) -> None:
    def login(api: Api, phone: str, purpose: str = "login") -> None:
        vid = api.create(phone, purpose=purpose).json()["id"]
        assert api.check(vid, sim.last_code(phone[1:])).json()["status"] == "approved"

    with make_service(**GUARD) as api:
        # A prefix whose people enter their codes keeps sending while half of them do.
        login(api, number(0, "90533333"))
        login(api, number(1, "90533333"))
        for i in range(2, 5):  # the last is judged on 2 of 4 approved: 50 %
            assert api.create(number(i, "90533333")).status_code == 201
        assert api.create(number(5, "90533333")).json()["policy"] == "fraud_guard"  # 2 of 5
        # Here one customer logs in (the number is now "returning"), two never do.
        login(api, number(0))
        for i in range(1, 3):
            assert api.create(number(i)).status_code == 201
        assert api.create(number(3)).json()["policy"] == "fraud_guard"  # 1 of 3: 33 % < 50 %
        # The prefix is blocked, but the customer who converted before still logs in.
        login(api, number(0), purpose="again")


def test_monitor_mode_refuses_nothing_and_records_would_be_blocks(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(**GUARD, OTP_GUARD_MODE="monitor") as api:
        for i in range(8):
            assert api.create(number(i)).status_code == 201
        assert metric(api.base_url, 'otp_guard_events_total{kind="monitor_blocked"}') == 1
    assert len(sim.all_messages()) == 8
    (event,) = events(redis_url, "guard.blocked")  # once per would-be block, not per send
    assert json.loads(event["d"])["mode"] == "monitor"
    r = redis.Redis.from_url(redis_url)
    assert not r.exists(f"otp:{{g}}:gpb:{PREFIX}")  # nothing enforced
    r.close()


def test_safe_list_is_never_blocked(make_service: ServiceFactory, sim: Sim) -> None:
    safe = {
        "OTP_GUARD_SAFE_PREFIXES": f"+{PREFIX}",
        "OTP_GUARD_SAFE_NUMBERS": number(7, "90533222"),
    }
    with make_service(**GUARD, **safe) as api:
        for i in range(6):
            assert api.create(number(i)).status_code == 201
        for i in range(3):
            assert api.create(number(i, "90533222")).status_code == 201
        assert api.create(number(3, "90533222")).json()["policy"] == "fraud_guard"
        # The safe number under the blocked prefix still gets its code.
        assert api.create(number(7, "90533222")).status_code == 201


def test_guard_off_judges_nothing(make_service: ServiceFactory, sim: Sim, redis_url: str) -> None:
    with make_service(**GUARD, OTP_GUARD_MODE="off") as api:
        for i in range(6):
            assert api.create(number(i)).status_code == 201
    assert not events(redis_url, "guard.blocked")


def test_a_guard_refusal_costs_one_script_and_no_provider_call(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    """No more than today's refusals: the guard's check is folded into the shared step."""
    r = redis.Redis.from_url(redis_url)
    with make_service(**GUARD) as api:
        for i in range(3):
            assert api.create(number(i)).status_code == 201
        assert api.create(number(3)).json()["policy"] == "fraud_guard"  # the deciding send
        sent = len(sim.all_messages())
        r.config_resetstat()
        assert api.create(number(4)).json()["policy"] == "fraud_guard"
        stats = r.info("commandstats")
        calls = {k: int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_")}
        assert calls.get("cmdstat_evalsha", 0) + calls.get("cmdstat_eval", 0) == 1
        assert len(sim.all_messages()) == sent
    r.close()
