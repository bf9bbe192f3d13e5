"""Abuse defenses end to end: every send budget, pumping, brute force and its delays."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis

from tests.e2e.conftest import OTHER_KEY, WEB_KEY, Api, ServiceFactory, Sim, wrong

PHONE = "+905321234567"
MOBILE = "905321234567"


def refused(r: httpx.Response, policy: str) -> bool:
    return (
        r.status_code == 429
        and r.json()["code"] == "rate_limited"
        and r.json()["policy"] == policy
        and int(r.headers["Retry-After"]) >= 1
    )


def test_phone_budget_per_10_minutes_across_purposes(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service() as api:
        for purpose in ("a", "b", "c"):
            assert api.create(PHONE, purpose=purpose).status_code == 201
        fourth = api.create(PHONE, purpose="d")
        assert refused(fourth, "phone_10m")
        assert int(fourth.headers["Retry-After"]) > 500
        assert api.create("+905321234568", purpose="d").status_code == 201
    assert len(sim.messages(MOBILE)) == 3


def test_phone_budget_per_24_hours(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_PHONE_10M="100", OTP_LIMIT_PHONE_24H="2") as api:
        assert api.create(PHONE, purpose="a").status_code == 201
        assert api.create(PHONE, purpose="b").status_code == 201
        assert refused(api.create(PHONE, purpose="c"), "phone_24h")


def test_resend_cooldown_doubles(make_service: ServiceFactory, sim: Sim) -> None:
    def wait_seconds(body: dict[str, str]) -> float:
        from datetime import datetime

        ts = datetime.strptime(body["resend_available_at"], "%Y-%m-%dT%H:%M:%SZ")
        return (
            ts.timestamp() - datetime.strptime(body["created_at"], "%Y-%m-%dT%H:%M:%SZ").timestamp()
        )

    with make_service(OTP_RESEND_COOLDOWN_SECONDS="1", OTP_MAX_SENDS="3") as api:
        first = api.create(PHONE).json()
        assert refused(api.create(PHONE), "resend_cooldown")
        time.sleep(1.1)
        second = api.create(PHONE)
        assert second.status_code == 201
        time.sleep(1.1)
        # After the second send the cooldown is 2 s: one second later is still too early.
        assert refused(api.create(PHONE), "resend_cooldown")
        time.sleep(1.1)
        third = api.create(PHONE)
        assert third.status_code == 201
    gaps = [wait_seconds(first), wait_seconds(second.json()), wait_seconds(third.json())]
    # created_at stays; resend_available_at moves 1 s, then 2 s, then 4 s past the send.
    assert gaps[0] in (1, 2)
    assert gaps[2] - gaps[1] >= 3


def test_per_ip_and_per_network_budgets(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_IP_HOUR="2", OTP_LIMIT_IP_NET_HOUR="3") as api:
        assert api.create("+905321110001", client_ip="203.0.113.7").status_code == 201
        assert api.create("+905321110002", client_ip="203.0.113.7").status_code == 201
        assert refused(api.create("+905321110003", client_ip="203.0.113.7"), "ip_hour")
        assert api.create("+905321110004", client_ip="203.0.113.8").status_code == 201
        assert refused(api.create("+905321110005", client_ip="203.0.113.9"), "ip_net_hour")
        # Another /24 is untouched; without client_ip the per-IP policies are skipped.
        assert api.create("+905321110006", client_ip="198.51.100.1").status_code == 201
        assert api.create("+905321110007").status_code == 201


def test_ipv6_is_limited_per_64(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_IP_HOUR="100", OTP_LIMIT_IP_NET_HOUR="2") as api:
        assert api.create("+905321110011", client_ip="2001:db8:1:2::1").status_code == 201
        assert api.create("+905321110012", client_ip="2001:db8:1:2::ff").status_code == 201
        assert refused(api.create("+905321110013", client_ip="2001:db8:1:2:abcd::1"), "ip_net_hour")
        assert api.create("+905321110014", client_ip="2001:db8:1:3::1").status_code == 201


def test_bad_client_ip_is_422_and_sends_nothing(api: Api, sim: Sim) -> None:
    r = api.create(PHONE, client_ip="999.1.1.1")
    assert r.status_code == 422
    assert sim.all_messages() == []


def test_per_client_budget(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_CLIENT_MINUTE="2") as api:
        assert api.create("+905321110021").status_code == 201
        assert api.create("+905321110022").status_code == 201
        assert refused(api.create("+905321110023"), "client_minute")
        assert api.as_client(OTHER_KEY).create("+905321110023").status_code == 201


def test_per_country_budget(make_service: ServiceFactory, sim: Sim) -> None:
    # No reserve for returning customers: fresh numbers may use the whole budget here
    # (tests/guard/ covers the reserve).
    with make_service(OTP_LIMIT_COUNTRY_HOUR="2", OTP_BUDGET_RESERVED_SHARE="0") as api:
        assert api.create("+905321110031").status_code == 201
        assert api.create("+905331110032").status_code == 201
        assert refused(api.create("+905341110033"), "country_hour")


def test_per_prefix_budget(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_PREFIX_HOUR="2", OTP_PREFIX_BURST_NUMBERS="0") as api:
        assert api.create("+905321110041").status_code == 201
        assert api.create("+905321110042").status_code == 201
        assert refused(api.create("+905321110043"), "prefix_hour")
        assert api.create("+905331110044").status_code == 201


def test_global_budgets(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_GLOBAL_MINUTE="2", OTP_BUDGET_RESERVED_SHARE="0") as api:
        assert api.create("+905321110051").status_code == 201
        assert api.as_client(OTHER_KEY).create("+905331110052").status_code == 201
        assert refused(api.create("+905341110053"), "global_minute")
    with make_service(OTP_LIMIT_GLOBAL_MINUTE="100", OTP_LIMIT_GLOBAL_DAY="1") as api:
        r = api.create("+905351110054")
        assert refused(r, "global_day") or r.status_code == 201


def test_prefix_burst_blocks_prefix_and_alerts(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(OTP_PREFIX_BURST_NUMBERS="3") as api:
        assert api.create("+905321110061").status_code == 201
        assert api.create("+905321110062").status_code == 201
        # The third different number under 90532111 within the window is the burst.
        blocked = api.create("+905321110063")
        assert refused(blocked, "prefix_blocked")
        assert int(blocked.headers["Retry-After"]) > 3000
        # Even a number already seen is now refused; other prefixes keep working.
        assert refused(api.create("+905321110061", purpose="other"), "prefix_blocked")
        assert api.create("+905331110064").status_code == 201
    assert len(sim.all_messages()) == 3


def test_refused_requests_increment_nothing(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_LIMIT_CLIENT_MINUTE="3", OTP_LIMIT_PHONE_10M="1") as api:
        assert api.create(PHONE, purpose="a").status_code == 201
        # Refused by the per-phone budget: the client budget it passed is given back.
        for _ in range(3):
            assert refused(api.create(PHONE, purpose="b"), "phone_10m")
        time.sleep(0.2)
        assert api.create("+905321110071").status_code == 201
        assert api.create("+905321110072").status_code == 201
        assert refused(api.create("+905321110073"), "client_minute")


def test_definite_provider_refusal_counts_toward_nothing(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_LIMIT_PHONE_10M="1", OTP_LIMIT_CLIENT_MINUTE="1") as api:
        sim.account(local_balance_sms=0)
        assert api.create(PHONE).status_code == 503
        sim.account(local_balance_sms=100)
        assert api.create(PHONE).status_code == 201


def test_send_that_may_have_left_counts_toward_volume(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_LIMIT_PHONE_10M="1") as api:
        sim.fault("http_502", times=1)
        assert api.create(PHONE).status_code == 503
        # Unknown whether it left: the phone budget keeps it, but no cooldown was set.
        assert refused(api.create(PHONE), "phone_10m")


def test_deny_and_allow_lists(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_PREFIX_DENY="+90533") as api:
        denied = api.create("+905331234567")
        assert denied.status_code == 403 and denied.json()["code"] == "prefix_denied"
        assert api.create(PHONE).status_code == 201
    with make_service(OTP_PREFIX_ALLOW="+90532") as api:
        assert api.create("+905341234567").status_code == 403
        assert api.create("+905321234566").status_code == 201


def test_test_numbers_are_exempt_from_send_budgets(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(
        OTP_TEST_NUMBERS="web:+905550000001=135790",
        OTP_LIMIT_PHONE_10M="1",
        OTP_LIMIT_CLIENT_MINUTE="1",
    ) as api:
        for purpose in ("a", "b", "c", "d"):
            assert api.create("+905550000001", purpose=purpose).status_code == 201
    assert sim.all_messages() == []


def test_parallel_sends_for_one_number_across_two_instances(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service() as a, make_service() as b:

        def send(i: int) -> httpx.Response:
            return (a if i % 2 else b).create(PHONE, purpose=f"p{i}")

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(send, range(20)))
    assert sum(r.status_code == 201 for r in results) == 3
    assert all(r.status_code in (201, 429) for r in results)
    assert len(sim.messages(MOBILE)) == 3


def test_parallel_sends_for_one_slot_send_one_sms(api: Api, sim: Sim) -> None:
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: api.create(PHONE), range(10)))
    assert sum(r.status_code == 201 for r in results) == 1
    assert len(sim.messages(MOBILE)) == 1


def test_last_attempt_under_31_parallel_checks_is_evaluated_once(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with (
        make_service(OTP_CHECK_FREE_FAILURES="100") as a,
        make_service(OTP_CHECK_FREE_FAILURES="100") as b,
    ):
        vid = a.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        for _ in range(4):
            a.check(vid, wrong(code))
        guesses = [wrong(code)] * 30 + [code]

        def check(i: int) -> httpx.Response:
            return (a if i % 2 else b).check(vid, guesses[i])

        with ThreadPoolExecutor(31) as pool:
            results = list(pool.map(check, range(31)))
    assert sum(r.status_code == 200 for r in results) == 1
    assert all(r.status_code in (200, 404) for r in results)


def test_failures_escalate_across_resends_and_the_right_code_wins_after_the_delay(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(
        OTP_MAX_CHECKS="5",
        OTP_MAX_SENDS="5",
        OTP_RESEND_COOLDOWN_SECONDS="0",
        OTP_LIMIT_PHONE_10M="100",
        OTP_LIMIT_PHONE_24H="100",
        OTP_LIMIT_PHONE_NET_10M="100",
        OTP_LIMIT_PHONE_NET_24H="100",
        OTP_CHECK_DELAY_BASE_SECONDS="0.05",
        OTP_CHECK_DELAY_CAP_SECONDS="0.8",
    ) as api:
        vid = api.create(PHONE).json()["id"]
        waits: list[float] = []
        refusals: list[int] = []
        guesses = 0
        while guesses < 20:
            code = sim.last_code(MOBILE)
            started = time.monotonic()
            refusals.append(0)
            while True:
                r = api.check(vid, wrong(code))
                if r.status_code != 429:
                    break
                assert r.json()["policy"] == "check_delay"
                refusals[-1] += 1
                time.sleep(0.01)
            waits.append(time.monotonic() - started)
            guesses += 1
            body = r.json() if r.status_code == 200 else {}
            if r.status_code == 404 or body.get("status") == "max_attempts_reached":
                # Out of attempts: a new verification (a new code) does not reset the streak.
                created = api.create(PHONE)
                assert created.status_code == 201
                vid = created.json()["id"]
            elif guesses % 3 == 0:
                assert api.create(PHONE).status_code == 201  # a resend, same streak
        print("\nwaits before each of 20 wrong guesses (s):", [round(w, 2) for w in waits])
        # The first five failures are free; the fifth arms a 50 ms delay, which the sixth guess
        # meets or not depending on how long the resend took; from the seventh on each waits.
        assert refusals[:5] == [0] * 5
        assert all(r > 0 for r in refusals[6:])
        assert waits[8] > waits[7] * 1.5 > 0.1
        assert waits[9] > waits[8] * 1.5
        assert min(waits[-5:]) >= 0.7 and max(waits[-5:]) < 2.0
        # The person, after the delay, logs in with the right code.
        code = sim.last_code(MOBILE)
        while (r := api.check(vid, code)).status_code == 429:
            time.sleep(0.02)
        assert r.json()["status"] == "approved"
        # Success clears the streak: the next failure is free again.
        vid = api.create(PHONE).json()["id"]
        assert api.check(vid, wrong(sim.last_code(MOBILE))).status_code == 200
        assert api.check(vid, wrong(sim.last_code(MOBILE))).status_code == 200


def test_an_attacker_elsewhere_cannot_delay_the_person(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(
        OTP_CHECK_FREE_FAILURES="2",
        OTP_CHECK_DELAY_BASE_SECONDS="60",
        OTP_MAX_CHECKS="10",
    ) as api:
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        for _ in range(2):
            api.check(vid, wrong(code), client_ip="203.0.113.50")
        attacker = api.check(vid, wrong(code), client_ip="203.0.113.51")
        assert refused(attacker, "check_delay")
        assert int(attacker.headers["Retry-After"]) > 50
        # During the delay even the right code from the attacker's network is refused...
        assert refused(api.check(vid, code, client_ip="203.0.113.52"), "check_delay")
        # ...but the person on another network gets in.
        assert api.check(vid, code, client_ip="198.51.100.20").json()["status"] == "approved"


def test_daily_failure_cap_per_phone(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(
        OTP_CHECK_DAILY_FAILURES="3", OTP_CHECK_FREE_FAILURES="100", OTP_MAX_CHECKS="10"
    ) as api:
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        for i in range(3):
            assert api.check(vid, wrong(code), client_ip=f"198.51.{i}.1").status_code == 200
        capped = api.check(vid, code, client_ip="192.0.2.1")
        assert refused(capped, "check_daily_failures")


def test_pumping_attack_is_contained(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    """1,000 sends to sequential numbers under one prefix from many IPs: the burst rule
    alone (the fraud guard, which would refuse them sooner, has its own tests)."""
    with make_service(OTP_GUARD_MODE="off") as api:

        async def attack() -> list[int]:
            async with httpx.AsyncClient(
                base_url=api.base_url,
                headers={"Authorization": f"Bearer {WEB_KEY}"},
                timeout=30,
                limits=httpx.Limits(max_connections=20),
            ) as http:
                sem = asyncio.Semaphore(20)

                async def one(i: int) -> int:
                    body = {
                        "phone": f"+9053212{i:05d}"[:13],
                        "client_ip": f"100.{64 + i // 250}.{i % 250}.{i % 7 + 1}",
                    }
                    async with sem:
                        r = await http.post("/v1/verifications", json=body)
                    return r.status_code

                return await asyncio.gather(*(one(i) for i in range(1000)))

        started = time.monotonic()
        statuses = asyncio.run(attack())
        elapsed = time.monotonic() - started
        delivered = sim.all_messages()
        # A person on another prefix still gets a code and logs in.
        vid = api.create("+905441234567").json()["id"]
        code = sim.last_code("905441234567")
        assert api.check(vid, code).json()["status"] == "approved"
    accepted = statuses.count(201)
    print(f"\npumping: {accepted} of 1000 sent, {statuses.count(429)} refused, {elapsed:.1f} s")
    assert len(delivered) == accepted <= 20
    assert statuses.count(429) == 1000 - accepted
    r = redis.Redis.from_url(redis_url)
    assert r.exists("otp:{g}:pb:90532120") or r.exists("otp:{g}:pb:90532121")
    r.close()


def _script_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


def test_a_refusal_costs_at_most_two_round_trips_and_no_provider_call(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    r = redis.Redis.from_url(redis_url)
    with make_service(OTP_LIMIT_CLIENT_MINUTE="1", OTP_LIMIT_PHONE_10M="1") as api:
        assert api.create(PHONE).status_code == 201
        r.config_resetstat()
        assert refused(api.create("+905321110081"), "client_minute")
        assert _script_calls(r) == 1  # refused by the shared step: one script, nothing else
        sent = len(sim.all_messages())
        r.config_resetstat()
        assert refused(api.as_client(OTHER_KEY).create(PHONE, purpose="x"), "phone_10m")
        calls = _script_calls(r)
        # Shared step, per-phone step; the refund of the shared step follows the answer.
        assert calls in (2, 3)
        assert len(sim.all_messages()) == sent
    r.close()
