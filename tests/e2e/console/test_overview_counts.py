"""The overview's windows add up the event log's per-day counters exactly: the last 1, 24
and 168 clock hours, refusals by policy, conversion and delivery rate. Counters are written
in the fold's layout (hour|metric|client|country|prefix per partition and UTC day)."""

from __future__ import annotations

import datetime as dt
import re
import time

import redis

from otpservice.console import counters
from otpservice.storage import keys
from tests.e2e.conftest import ADMIN_KEY, Api, Sim, service_env
from tests.support.console import ConsoleHttp
from tests.support.servers import ServiceServer

HOUR = 3_600_000


def _put(db: redis.Redis, part: int, at_ms: int, metric: str, n: int, prefix: str) -> None:
    day_start = at_ms // 86_400_000 * 86_400_000
    field = f"{(at_ms - day_start) // HOUR}|{metric}|web|TR|{prefix}"
    db.hincrby(keys.stats_day(part, counters.utc_day(at_ms)), field, n)


def _refusal(db: redis.Redis, part: int | str, at_ms: int, policy: str, n: int) -> None:
    field = f"{at_ms // 60_000}|web|{policy}|TR"  # the minute since the epoch
    db.hincrby(keys.refusals_day(part, counters.utc_day(at_ms)), field, n)


def _cell(html: str, window: str, metric: str) -> str:
    match = re.search(rf'id="stat-{window}-{metric}">([^<]*)<', html)
    assert match, f"no cell {window}/{metric}"
    return match.group(1)


def test_windows_add_up_the_counters_of_every_partition_and_day(redis_url: str, sim: Sim) -> None:
    db = redis.Redis.from_url(redis_url)
    now = int(time.time() * 1000)
    hour = now // HOUR * HOUR
    # (when, partition, started, approved) — spread over partitions and UTC days.
    for at, part, started, approved in [
        (hour + 1, 0, 5, 4),  # this hour
        (hour - 5 * HOUR, 7, 10, 5),  # today or yesterday: in the day
        (hour - 23 * HOUR, 15, 20, 10),  # the day's first hour
        (hour - 24 * HOUR, 3, 40, 20),  # just out of the day, in the week
        (hour - 167 * HOUR, 9, 80, 40),  # the week's first hour
        (hour - 168 * HOUR, 2, 1000, 1),  # just out of the week
    ]:
        _put(db, part, at, "started", started, "90532111")
        _put(db, part, at, "approved", approved, "90532111")
        _put(db, part, at, "sent", started, "90532111")
        _put(db, part, at, "parts", 2 * started, "90532111")
        _put(db, part, at, "delivered", started - 1, "90532111")
    _refusal(db, "g", hour + 2, "global_minute", 3)
    _refusal(db, 4, hour - 30 * HOUR, "phone_10m", 7)
    for part in range(16):  # every partition folded up to now: the past days are final
        db.set(keys.stats_cursor(part), f"{now}-0")
    db.close()

    with ServiceServer(service_env(redis_url, sim, OTP_CONSOLE="true")) as server:
        console = ConsoleHttp(server.url)
        assert console.sign_in(ADMIN_KEY).status_code == 303
        for _ in range(2):  # the second view reads the final days from the console's cache
            html = console.get("/console/overview").text
            assert _cell(html, "hour", "started") == "5"
            assert _cell(html, "day", "started") == "35"
            assert _cell(html, "week", "started") == "155"
            assert _cell(html, "week", "approved") == "79"
            assert _cell(html, "week", "parts") == "310"
            assert _cell(html, "hour", "conversion") == "80.0 %"
            assert _cell(html, "day", "delivery_rate") == f"{100 * 32 / 35:.1f} %"
            assert _cell(html, "hour", "refused") == "3"
            assert _cell(html, "week", "refused") == "10"
        # A fold into a partition (its counters and its cursor move together) shows at once.
        db = redis.Redis.from_url(redis_url)
        _put(db, 0, hour + 2, "started", 1, "90532111")
        db.set(keys.stats_cursor(0), f"{now + 1}-0")
        db.close()
        assert _cell(console.get("/console/overview").text, "hour", "started") == "6"
        page = console.get("/console/countries", window="week").text
        assert re.search(
            r'<td class="mono">90532111</td>\s*<td class="num" data-value="156">', page
        )


def test_the_overview_shows_the_numbers_of_v1_stats_for_each_window(
    redis_url: str, sim: Sim
) -> None:
    env = service_env(redis_url, sim, OTP_CONSOLE="true", OTP_LIMIT_PHONE_10M="2")
    with ServiceServer(env) as server:
        api = Api(server.url)
        for phone in ("+905321234567", "+905441234567"):
            vid = api.create(phone).json()["id"]
            assert api.check(vid, sim.last_code(phone[1:])).json()["status"] == "approved"
        api.create("+905551234567")  # started, never approved
        api.create("+905321234567", purpose="again")  # the phone's second send in 10 min
        refused = api.create("+905321234567", purpose="third")
        assert refused.status_code == 429  # a refusal, counted per policy
        admin = Api(server.url, ADMIN_KEY)
        console = ConsoleHttp(server.url)
        assert console.sign_in(ADMIN_KEY).status_code == 303
        deadline = time.monotonic() + 15
        while _cell(console.get("/console/overview").text, "hour", "started") != "4":
            assert time.monotonic() < deadline, "the flows were not folded into the counters"
            time.sleep(0.3)
        html = console.get("/console/overview").text
        hour = int(time.time() * 1000) // HOUR * HOUR
        for window, hours in (("hour", 1), ("day", 24), ("week", 168)):
            since = dt.datetime.fromtimestamp((hour - (hours - 1) * HOUR) / 1000, dt.UTC)
            answer = admin.http.get("/v1/stats", params={"since": since.isoformat()})
            assert answer.status_code == 200, answer.text
            total = answer.json()["total"]
            assert _cell(html, window, "started") == str(total["started"]) == "4"
            assert _cell(html, window, "sent") == str(total["sms_sent"])
            assert _cell(html, window, "parts") == str(total["sms_parts"])
            assert _cell(html, window, "approved") == str(total["approved"]) == "2"
            assert _cell(html, window, "delivered") == str(total["delivered"])
            assert _cell(html, window, "refused") == str(sum(total["refusals"].values()))
            assert _cell(html, window, "conversion") == f"{100 * total['conversion']:.1f} %"
