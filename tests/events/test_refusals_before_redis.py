"""Refusals decided before any Redis script runs (a country or prefix not allowed, a check of
an id that cannot exist) are counts in the statistics like the scripts' own, by client,
policy and minute: the same requests that otp_refusals / otp_checks count, written best
effort once a second (events/refusals.py), and never in the way of the refusal itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import redis
import redis.asyncio as aredis
from prometheus_client import CollectorRegistry

from otpservice.events.refusals import RefusalCounts
from otpservice.storage import keys
from otpservice.storage.days import utc_day
from tests.e2e.conftest import ADMIN_KEY, OTHER_KEY, Api, Sim, service_env, wait_until
from tests.events.streams import raw_events
from tests.ops.test_metrics import scrape, value
from tests.support.servers import ServiceServer, free_port

US = "+1 415 555 0123"  # valid, but OTP_ALLOWED_COUNTRIES is TR
DENIED = "+905331234567"  # under OTP_PREFIX_DENY=+90533
MALFORMED_ID = "not-an-id"


def _today() -> str:
    return utc_day(int(time.time() * 1000))


def _stats(api: Api, **params: str) -> dict[str, Any]:
    r = api.http.get("/v1/stats", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_refusals_before_redis_are_in_the_statistics_and_the_metrics(
    redis_url: str, sim: Sim
) -> None:
    env = service_env(redis_url, sim, OTP_PREFIX_DENY="+90533")
    with ServiceServer(env) as server:
        api = Api(server.url)
        other = api.as_client(OTHER_KEY)
        admin = api.as_client(ADMIN_KEY)
        for _ in range(3):
            assert api.create(US).json()["code"] == "country_not_allowed"
        for _ in range(2):
            assert api.create(DENIED).json()["code"] == "prefix_denied"
        assert other.create(US).status_code == 403
        assert api.check(MALFORMED_ID, "123456").status_code == 404  # decided before Redis
        assert api.check("0" * 64, "123456").status_code == 404  # decided by check_reserve.lua
        # Bad input is no policy refusal: counted nowhere.
        assert api.create("12345").status_code == 422
        assert api.check("0" * 64, "12").status_code == 422

        def settled() -> bool:
            total = _stats(admin)["total"]["refusals"]
            return total.get("country_not_allowed") == 4 and total.get("not_found") == 2

        wait_until(settled, timeout=5)  # written within about a second
        mine = _stats(api, group_by="country")
        everyone = _stats(admin, group_by="client")
        metrics = scrape(server.url)

    by_country = {g["key"]: g["refusals"] for g in mine["groups"]}
    assert by_country == {
        "US": {"country_not_allowed": 3},
        "TR": {"prefix_denied": 2},
        "": {"not_found": 2},  # the malformed id's and the unknown one's, counted alike
    }
    assert mine["total"]["refusals"] == {
        "country_not_allowed": 3,
        "not_found": 2,
        "prefix_denied": 2,
    }
    by_client = {g["key"]: g["refusals"] for g in everyone["groups"]}
    assert by_client == {
        "web": {"country_not_allowed": 3, "not_found": 2, "prefix_denied": 2},
        "other": {"country_not_allowed": 1},
    }
    assert everyone["total"]["refusals"] == {
        "country_not_allowed": 4,
        "not_found": 2,
        "prefix_denied": 2,
    }
    assert everyone["total"]["started"] == 0
    # The metrics count the same requests.
    assert value(metrics, "otp_refusals_total", policy="country_not_allowed") == 4
    assert value(metrics, "otp_refusals_total", policy="prefix_denied") == 2
    assert value(metrics, "otp_checks_total", outcome="not_found") == 2
    assert value(metrics, "otp_refusal_counts_lost_total") == 0
    # Counts, not events; in the shared partition's hash beside the shared step's refusals.
    db = redis.Redis.from_url(redis_url)
    assert raw_events(db) == []
    shared = {
        f.decode().split("|", 1)[1]: int(n)
        for f, n in db.hgetall(keys.refusals_day("g", _today())).items()
    }
    db.close()
    assert shared == {
        "web|country_not_allowed|US": 3,
        "web|prefix_denied|TR": 2,
        "other|country_not_allowed|US": 1,
        "web|not_found|": 1,
    }


def test_a_flood_of_refusals_is_one_write_a_second_and_no_task_each(redis_url: str) -> None:
    async def flood() -> tuple[int, int, int]:
        r = aredis.Redis.from_url(redis_url)
        counts = RefusalCounts(r, history_days=7, flush_seconds=0.2)
        db = redis.Redis.from_url(redis_url)
        db.config_resetstat()
        tasks_before = len(asyncio.all_tasks())
        for i in range(5000):
            counts.note("web", "country_not_allowed", "US" if i % 2 else "DE")
        most_tasks = len(asyncio.all_tasks()) - tasks_before  # a timer armed, no task yet
        await asyncio.sleep(0.5)  # the timer fires: one write
        calls: Any = db.info("commandstats")
        script_calls = sum(
            int(v["calls"]) for k, v in calls.items() if k.startswith("cmdstat_eval")
        )
        await counts.close()
        await r.aclose()
        day = db.hgetall(keys.refusals_day("g", _today()))
        db.close()
        return most_tasks, script_calls, sum(int(n) for n in day.values())

    most_tasks, script_calls, counted = asyncio.run(flood())
    assert most_tasks == 0
    assert script_calls <= 2  # one write (and, the first time, the EVALSHA that loads it)
    assert counted == 5000


def test_refusals_are_answered_and_counts_dropped_while_redis_is_down() -> None:
    async def outage() -> tuple[float, int, float]:
        r = aredis.Redis(port=free_port(), socket_connect_timeout=0.2)  # nothing listens
        registry = CollectorRegistry()
        counts = RefusalCounts(r, history_days=7, registry=registry, flush_seconds=0.05)
        started = time.perf_counter()
        for _ in range(1000):
            counts.note("web", "prefix_denied", "TR")
        noted = time.perf_counter() - started
        await asyncio.sleep(0.5)  # the write fails in the background, raising nothing
        written = await counts.flush()
        await counts.close()
        await r.aclose()
        lost = registry.get_sample_value("otp_refusal_counts_lost_total") or 0.0
        return noted, written, lost

    noted, written, lost = asyncio.run(outage())
    assert noted < 0.5  # never waits on Redis
    assert written == 0
    assert lost == 1000


def test_with_redis_down_a_country_refusal_is_still_a_403(sim: Sim) -> None:
    env = service_env(f"redis://127.0.0.1:{free_port()}/0", sim)
    with ServiceServer(env) as server:
        api = Api(server.url)
        for _ in range(20):
            started = time.perf_counter()
            assert api.create(US).status_code == 403
            assert time.perf_counter() - started < 1.0

        def lost() -> float:
            return value(scrape(server.url), "otp_refusal_counts_lost_total")

        wait_until(lambda: lost() == 20, timeout=8)
        assert value(scrape(server.url), "otp_refusals_total", policy="country_not_allowed") == 20
        assert httpx.get(f"{server.url}/healthz").status_code == 200
