"""A shared budget that one client key can spend for everyone is a login outage: per-client
shares and the returning customers' reserve keep the others logging in, and the refusal
is an alert."""

from __future__ import annotations

import json

import httpx
import redis

from tests.e2e.conftest import OTHER_KEY, Api, ServiceFactory, Sim

BUDGETS = {
    "OTP_LIMIT_COUNTRY_HOUR": "20",
    "OTP_CLIENT_BUDGET_SHARES": "web=0.5,other=0.5",  # each key: 10 of the country's 20
    "OTP_BUDGET_RESERVED_SHARE": "0.2",  # fresh numbers: 8 of a key's 10, 16 of the 20
    "OTP_GUARD_MODE": "off",  # the budgets alone (the guard has its own tests)
}


def login(api: Api, sim: Sim, phone: str, purpose: str = "login") -> None:
    r = api.create(phone, purpose=purpose)
    assert r.status_code == 201, r.text
    code = sim.last_code(phone[1:])
    assert api.check(r.json()["id"], code).json()["status"] == "approved"


def test_one_key_exhausting_its_share_locks_out_neither_returning_nor_other_customers(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(**BUDGETS) as web:
        returning = "+905447770001"
        login(web, sim, returning)  # yesterday's customer: now a returning one
        # The attacker on the same key: fresh numbers, 9 per prefix, a fresh /64 each time.
        statuses: list[tuple[int, str | None]] = []
        for i in range(30):
            r = web.create(f"+9053{i // 9:02d}666{i % 9:03d}", client_ip=f"2001:db8:{i:x}::1")
            statuses.append((r.status_code, r.json().get("policy")))
        sent = sum(1 for s, _ in statuses if s == 201)
        refused = {p for s, p in statuses if s == 429}
        print(f"\nattacker on key web: {sent} of 30 sent, then refused by {sorted(refused)}")
        assert sent == 7 and refused == {"client_country_hour"}
        # The same key's returning customer still gets a code and logs in...
        login(web, sim, returning, purpose="again")
        # ...and so does a new customer of another key.
        login(web.as_client(OTHER_KEY), sim, "+905448880001")
        metrics = httpx.get(f"{web.base_url}/metrics").text
        assert 'otp_budget_exhausted_total{policy="client_country_hour"} 1.0' in metrics
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    alerts = [f for _, f in r.xrange("otp:{g}:ev") if f["t"] == "budget.exhausted"]
    r.close()
    (alert,) = alerts  # one per exhausted window, not one per refusal
    assert alert["c"] == "web" and alert["cc"] == "TR"
    assert json.loads(alert["d"])["policy"] == "client_country_hour"
