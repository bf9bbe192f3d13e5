"""Routes and failover over real HTTP: two simulator accounts and a send hook.

In every case the person gets exactly one SMS per send unless the route allows duplicates
(the inboxes say so), the code that went out is the one that checks, and the budgets count
what they count with one provider (a send once; a definite refusal nothing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
import redis

from otpservice.simulator.state import mask_key
from tests.e2e.conftest import ADMIN_KEY, CODE, PROVIDER_KEY, Api, Sim, service_env
from tests.support.hook_receiver import HookReceiver, running_hook_receiver
from tests.support.servers import ServiceServer, free_port

BACKUP_KEY = "sim-backup-key-55d1e0"
PHONE = "+905321234567"


@pytest.fixture(scope="module")
def hook_server() -> Iterator[HookReceiver]:
    with running_hook_receiver() as receiver:
        yield receiver


@pytest.fixture
def hook(hook_server: HookReceiver) -> HookReceiver:
    hook_server.reset()
    return hook_server


@pytest.fixture
def two_accounts(sim: Sim) -> Sim:
    """The main account of the session simulator, plus a backup account beside it."""
    r = sim.http.post("/_admin/accounts", json={"api_key": BACKUP_KEY, "sender_id": "BACKUP"})
    r.raise_for_status()
    return sim


def providers(sim: Sim, hook: HookReceiver, **main: Any) -> str:
    return json.dumps(
        [
            {
                "name": "main",
                "kind": "turkeysms",
                "base_url": sim.api,
                "api_key": PROVIDER_KEY,
                "sender_id": "OTPSVC",
                "code_source": "provider",
                "timeout_seconds": 1,
                **main,
            },
            {
                "name": "backup",
                "kind": "turkeysms",
                "base_url": sim.api,
                "api_key": BACKUP_KEY,
                "sender_id": "BACKUP",
                "code_source": "local",
                "timeout_seconds": 1,
            },
            {
                "name": "own",
                "kind": "http_hook",
                "url": hook.url,
                "secret": hook.secret,
                "timeout_seconds": 1,
            },
        ]
    )


Routed = Callable[..., AbstractContextManager[Api]]


@pytest.fixture
def routed(redis_url: str, two_accounts: Sim, hook: HookReceiver) -> Routed:
    """A service over main -> backup -> own; ``routes``/``main`` change them."""

    @contextmanager
    def start(
        routes: dict[str, Any] | None = None, main: dict[str, Any] | None = None, **env: str
    ) -> Iterator[Api]:
        overrides = {
            "OTP_PROVIDERS": providers(two_accounts, hook, **(main or {})),
            "OTP_ROUTES": json.dumps(routes or {"default": ["main", "backup", "own"]}),
            "OTP_PROVIDER_API_KEY": "",
            "OTP_PROVIDER_BASE_URL": "",
            "OTP_PROVIDER_SENDER_ID": "",
            **env,
        }
        with ServiceServer(service_env(redis_url, two_accounts, **overrides)) as server:
            yield Api(server.url)

    return start


def inbox(sim: Sim, phone: str = PHONE) -> list[dict[str, Any]]:
    return sim.messages(phone)


def by(key: str) -> str:
    return mask_key(key)


def code_in(text: str) -> str:
    match = CODE.search(text)
    assert match, "the SMS has no code"
    return match.group(1)


def sends_and_checks(api: Api, sim: Sim, account: str, phone: str = PHONE) -> None:
    """One send: exactly one SMS, from ``account``, and its code approves."""
    r = api.create(phone)
    assert r.status_code == 201, r.text
    messages = inbox(sim, phone)
    assert len(messages) == 1
    assert messages[0]["account"] == by(account)
    check = api.check(r.json()["id"], code_in(messages[0]["text"]))
    assert check.json()["status"] == "approved"


def test_balance_exhausted_fails_over_with_the_backups_own_code(routed: Routed, sim: Sim) -> None:
    sim.account(local_balance_sms=0)
    with routed() as api:
        sends_and_checks(api, sim, BACKUP_KEY)


def test_per_minute_limit_fails_over(routed: Routed, sim: Sim) -> None:
    sim.account(per_minute_limit=0)  # TS-1060
    with routed() as api:
        sends_and_checks(api, sim, BACKUP_KEY)


def test_revoked_key_fails_over(routed: Routed, sim: Sim) -> None:
    with routed(main={"api_key": "revoked-key-9b2c41"}) as api:  # TS-1031
        sends_and_checks(api, sim, BACKUP_KEY)


def test_provider_down_fails_over(routed: Routed, sim: Sim) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/v3"  # nothing listens: connection refused
    with routed(main={"base_url": closed}) as api:
        sends_and_checks(api, sim, BACKUP_KEY)


def test_a_refused_number_does_not_fail_over(routed: Routed, sim: Sim) -> None:
    sim.account(international_enabled=False)
    with routed(OTP_ALLOWED_COUNTRIES="TR,DE") as api:
        r = api.create("+4915112345678")  # TS-1032 at main: about the number, not main
        assert r.status_code == 422 and r.json()["code"] == "phone_rejected"
    assert sim.all_messages() == []


def test_hanging_provider_does_not_fail_over_by_default(routed: Routed, sim: Sim) -> None:
    sim.fault("hang", api_key=PROVIDER_KEY)
    with routed(OTP_LIMIT_PHONE_10M="1") as api:
        r = api.create(PHONE)
        assert r.status_code == 503 and r.json()["code"] == "provider_unavailable"
        # The simulator took the send before hanging: one SMS, from main, nothing else.
        assert [m["account"] for m in inbox(sim)] == [by(PROVIDER_KEY)]
        sim.clear_faults()
        # It may have left, so it counts toward the volume budgets as with one provider.
        again = api.create(PHONE)
        assert again.status_code == 429 and again.json()["policy"] == "phone_10m"


def test_hanging_provider_fails_over_when_the_route_allows_duplicates(
    routed: Routed, sim: Sim
) -> None:
    sim.fault("hang", api_key=PROVIDER_KEY)
    route = {"providers": ["main", "backup"], "failover_on_uncertain": True}
    with routed(routes={"default": route}) as api:
        r = api.create(PHONE)
        assert r.status_code == 201, r.text
        messages = inbox(sim)
        # The duplicate the route accepted: main's (whose code we never learnt), then backup's.
        assert [m["account"] for m in messages] == [by(BACKUP_KEY), by(PROVIDER_KEY)]
        assert api.check(r.json()["id"], code_in(messages[0]["text"])).json()["valid"]


def test_definite_failures_everywhere_count_toward_nothing(
    routed: Routed, sim: Sim, hook: HookReceiver
) -> None:
    sim.account(local_balance_sms=0)
    sim.http.patch(f"/_admin/accounts/{BACKUP_KEY}", json={"active": False}).raise_for_status()
    hook.mode, hook.status = "status", 403
    with routed(OTP_LIMIT_CLIENT_MINUTE="1") as api:
        r = api.create(PHONE)
        assert r.status_code == 503
        assert sim.all_messages() == [] and hook.accepted == []
        hook.mode = "ok"
        # Nothing was counted: the one send of the minute is still there.
        assert api.create(PHONE).status_code == 201
        assert len(hook.to(PHONE)) == 1


def test_each_failover_send_counts_once(routed: Routed, sim: Sim) -> None:
    sim.account(local_balance_sms=0)
    with routed(OTP_LIMIT_CLIENT_MINUTE="2") as api:
        assert api.create("+905321110081").status_code == 201
        assert api.create("+905321110082").status_code == 201
        third = api.create("+905321110083")
        assert third.status_code == 429 and third.json()["policy"] == "client_minute"
    assert len(sim.all_messages()) == 2


def test_routes_by_country_and_by_prefix(routed: Routed, sim: Sim, hook: HookReceiver) -> None:
    sim.http.patch(
        f"/_admin/accounts/{BACKUP_KEY}", json={"international_enabled": True}
    ).raise_for_status()
    routes = {"default": ["main"], "DE": ["backup"], "+90555": ["own"], "+9055": ["backup"]}
    with routed(routes=routes, OTP_ALLOWED_COUNTRIES="TR,DE") as api:
        sends_and_checks(api, sim, PROVIDER_KEY, "+905321110091")  # TR: the default route
        sends_and_checks(api, sim, BACKUP_KEY, "+4915112345678")  # by country
        sends_and_checks(api, sim, BACKUP_KEY, "+905541110092")  # +9055
        # +90555 is longer than +9055: the hook sends it.
        r = api.create("+905551110093")
        assert r.status_code == 201
        assert inbox(sim, "+905551110093") == []
        (sent,) = hook.to("+905551110093")
        assert sent["verification_id"] == r.json()["id"] and sent["locale"] == "en"
        assert hook.headers[-1]["webhook-id"] == sent["event_id"]
        assert api.check(r.json()["id"], code_in(sent["text"])).json()["valid"]
    assert hook.refused_signatures == 0


def test_hook_refusal_fails_over_and_hook_5xx_does_not(
    routed: Routed, sim: Sim, hook: HookReceiver
) -> None:
    with routed(routes={"default": ["own", "backup"]}) as api:
        hook.mode, hook.status = "status", 400
        sends_and_checks(api, sim, BACKUP_KEY, "+905321110101")
        hook.status = 500
        r = api.create("+905321110102")
        assert r.status_code == 503
        assert inbox(sim, "+905321110102") == []


def test_breaker_opens_and_closes_across_two_instances(
    redis_url: str, routed: Routed, sim: Sim
) -> None:
    sim.account(local_balance_sms=0)
    breaker = {
        "OTP_BREAKER_MIN_FAILURES": "2",
        "OTP_BREAKER_FAILURE_RATE": "0.5",
        "OTP_BREAKER_COOLOFF_SECONDS": "1",
    }
    routes = {"default": ["main", "backup"]}
    with routed(routes=routes, **breaker) as one, routed(routes=routes, **breaker) as two:
        assert one.create("+905321110111").status_code == 201  # main fails, backup sends
        assert two.create("+905321110112").status_code == 201  # main fails again: open
        r = redis.Redis.from_url(redis_url, decode_responses=True)
        entries = [f for _, f in r.xrange("otp:{g}:ev")]
        (opened,) = [f for f in entries if f["t"] == "provider.breaker_opened"]
        assert json.loads(opened["d"]) == {
            "provider": "main",
            "failures": 2,
            "sends": 2,
            "probe": False,
            "cooloff_seconds": 1,
            "result_code": "TS-1027",
        }
        assert (opened["c"], opened["v"], opened["ph"]) == ("", "", "")
        # Open: instance one does not even ask main now.
        seen = _provider_requests(sim)
        sends_and_checks(one, sim, BACKUP_KEY, "+905321110113")
        assert _provider_requests(sim) == seen + 1
        assert 'otp_provider_sends_total{outcome="skipped",provider="main"} 1.0' in _metrics(one)
        # Main recovers; after the cool-off one probe through instance two closes it.
        sim.account(local_balance_sms=100)
        _wait_for_cooloff()
        sends_and_checks(two, sim, PROVIDER_KEY, "+905321110114")
        events = [f["t"] for _, f in r.xrange("otp:{g}:ev")]
        assert events[-1] == "provider.breaker_closed"
        sends_and_checks(one, sim, PROVIDER_KEY, "+905321110115")


def _provider_requests(sim: Sim) -> int:
    count = sim.http.get("/_admin/stats").json()["provider_requests"]
    assert isinstance(count, int)
    return count


def _metrics(api: Api) -> str:
    return httpx.get(f"{api.base_url}/metrics").text


def _wait_for_cooloff() -> None:
    time.sleep(1.1)


def test_a_resend_after_non_delivery_goes_the_other_way_without_waiting(
    routed: Routed, sim: Sim, redis_url: str
) -> None:
    env = {
        "OTP_DELIVERY_POLL_SCHEDULE": "0.1,0.3,0.6",
        "OTP_WEBHOOK_POLL_SECONDS": "0.02",
        "OTP_RESEND_COOLDOWN_SECONDS": "300",
    }
    with routed(routes={"default": ["main", "backup"]}, **env) as api:
        sim.delivery(PHONE, "not_delivered")
        first = api.create(PHONE)
        assert first.status_code == 201
        vid = first.json()["id"]
        assert [m["account"] for m in inbox(sim)] == [by(PROVIDER_KEY)]
        # Within the cooldown, before the report: refused as with one provider.
        early = api.create(PHONE)
        assert early.status_code == 429 and early.json()["policy"] == "resend_cooldown"
        r = redis.Redis.from_url(redis_url, decode_responses=True)
        _wait_for_event(r, "delivery.undelivered")
        sim.delivery(PHONE, "delivered")
        # The report said it did not arrive: the resend skips the cooldown and goes by backup.
        resend = api.create(PHONE)
        deadline = time.monotonic() + 5  # the mark follows the event by one Redis write
        while resend.status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.05)
            resend = api.create(PHONE)
        assert resend.status_code == 201 and resend.json()["id"] == vid
        assert resend.json()["sends"] == 2
        messages = inbox(sim)
        assert [m["account"] for m in messages] == [by(BACKUP_KEY), by(PROVIDER_KEY)]
        # Once: the next resend waits for the cooldown again.
        again = api.create(PHONE)
        assert again.status_code == 429 and again.json()["policy"] == "resend_cooldown"
        assert api.check(vid, code_in(messages[0]["text"])).json()["status"] == "approved"


def _wait_for_event(r: redis.Redis, etype: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for part in range(16):
            if any(f.get("t") == etype for _, f in r.xrange(f"otp:{{p{part}}}:ev")):
                return
        time.sleep(0.05)
    raise AssertionError(f"no {etype} event")


def test_a_route_whose_every_breaker_is_open_still_tries_its_first_provider(
    routed: Routed, sim: Sim
) -> None:
    sim.account(local_balance_sms=0)
    breaker = {"OTP_BREAKER_MIN_FAILURES": "1", "OTP_BREAKER_COOLOFF_SECONDS": "120"}
    with routed(routes={"default": ["main"]}, **breaker) as api:
        assert api.create("+905321110121").status_code == 503  # TS-1027: the breaker opens
        view = api.as_client(ADMIN_KEY).http.get("/v1/admin/providers")
        assert view.status_code == 200
        (main,) = [p for p in view.json()["providers"] if p["name"] == "main"]
        assert main["breaker"] == "open" and 100 <= main["breaker_retry_seconds"] <= 120
        assert view.json()["routes"] == [
            {"key": "default", "providers": ["main"], "failover_on_uncertain": False}
        ]
        assert PROVIDER_KEY not in view.text and BACKUP_KEY not in view.text
        assert api.http.get("/v1/admin/providers").status_code == 403  # not an admin key
        # Open, and nothing else to try: the send still asks main rather than fail untried.
        seen = _provider_requests(sim)
        assert api.create("+905321110122").status_code == 503
        assert _provider_requests(sim) == seen + 1
        sim.account(local_balance_sms=100)  # main is back long before its cool-off ends
        sends_and_checks(api, sim, PROVIDER_KEY, "+905321110123")
        assert 'otp_provider_sends_total{outcome="skipped",provider="main"} 2.0' in _metrics(api)


def test_a_provider_low_on_balance_moves_to_the_end_of_its_routes(
    routed: Routed, sim: Sim, redis_url: str
) -> None:
    sim.account(local_balance_sms=40)
    with routed(main={"low_balance_sms": 50}, OTP_BALANCE_POLL_SECONDS="0.2") as api:
        admin = api.as_client(ADMIN_KEY).http

        def main_is_low() -> bool:
            view = admin.get("/v1/admin/providers").json()["providers"]
            return any(p["name"] == "main" and p["low_balance"] for p in view)

        deadline = time.monotonic() + 10
        while not main_is_low():
            assert time.monotonic() < deadline, "main never polled as low"
            time.sleep(0.05)
        # Still able to send, but used last: backup sends first.
        sends_and_checks(api, sim, BACKUP_KEY, "+905321110131")
        sim.account(local_balance_sms=500)
        deadline = time.monotonic() + 10
        while main_is_low():
            assert time.monotonic() < deadline, "main never polled above its threshold"
            time.sleep(0.05)
        sends_and_checks(api, sim, PROVIDER_KEY, "+905321110132")
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    low = [
        json.loads(f["d"]) for _, f in r.xrange("otp:{g}:ev") if f["t"] == "provider.balance_low"
    ]
    assert [(d["provider"], d["local_sms"], d["threshold"]) for d in low] == [("main", 40, 50)]
