"""OTP_EVENTS=0 writes nothing to the streams, so nothing reads them either: no webhook
fan-out or dispatch, no delivery intake or polls. The expiry sweep still runs. The same
probe (Redis's own command counts) sees the consumers when events are on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
import redis.asyncio as aredis

from otpservice.events.sweeper import Sweeper
from otpservice.storage import keys
from otpservice.storage.days import utc_day
from tests.support.receiver import Receiver
from tests.support.servers import ServiceServer
from tests.webhooks.conftest import Api, Sim, hooks_env, service_env, wait_until

PHONE = "+905321234567"
STREAM_READS = ("cmdstat_xreadgroup", "cmdstat_xautoclaim", "cmdstat_xgroup|create")


def _calls(db: redis.Redis) -> dict[str, int]:
    stats: Any = db.info("commandstats")
    return {name: int(row["calls"]) for name, row in stats.items()}


def _run(redis_url: str, sim: Sim, receiver: Receiver, events: str) -> dict[str, Any]:
    env = service_env(
        redis_url,
        sim,
        **hooks_env(("web", receiver, ["*"])),
        OTP_EVENTS=events,
        OTP_CODE_TTL_SECONDS="1",
        OTP_EXPIRY_SWEEP_SECONDS="0.1",
    )
    db = redis.Redis.from_url(redis_url)
    db.config_resetstat()
    with ServiceServer(env) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        delivery = api.http.get(f"/v1/verifications/{vid}/delivery")
        assert api.create("+1 415 555 0123").status_code == 403

        def swept() -> bool:
            pending = sum(db.zcard(keys.expiry_index(p)) for p in range(keys.PARTITIONS))
            return pending == 0 and api.get(vid).status_code == 404

        wait_until(swept, timeout=5)  # the expiry sweep runs either way
        time.sleep(1.0)  # many rounds of every loop that runs (webhooks poll every 0.05 s)
        found = {
            "calls": _calls(db),
            "streams": sorted(k.decode() for k in db.scan_iter("otp:*:ev")),
            "delivery": delivery.json()["state"],
            "webhooks": len(receiver.deliveries),
            "status_polls": sim.status_calls(),  # type: ignore[attr-defined]
            "refusals": db.hgetall(keys.refusals_day("g", utc_day(int(time.time() * 1000)))),
        }
    db.close()
    return found


def test_with_events_off_no_consumer_reads_the_streams(
    redis_url: str, sim: Sim, receiver: Receiver
) -> None:
    off = _run(redis_url, sim, receiver, "0")
    assert not [name for name in STREAM_READS if name in off["calls"]], off["calls"]
    assert "cmdstat_xadd" not in off["calls"]
    assert off["streams"] == []  # not even the consumer groups' empty streams
    assert off["webhooks"] == 0
    assert off["status_polls"] == 0  # no delivery poll
    assert off["delivery"] == "pending"  # the read still answers, from what is tracked
    assert off["refusals"] == {}  # no refusal counts either, as in the scripts


def test_with_events_on_the_same_probe_sees_the_consumers(
    redis_url: str, sim: Sim, receiver: Receiver
) -> None:
    on = _run(redis_url, sim, receiver, "1")
    assert all(on["calls"].get(name, 0) > 0 for name in STREAM_READS), on["calls"]
    assert on["calls"]["cmdstat_xadd"] >= 3  # created, accepted, expired
    assert keys.event_stream("g") in on["streams"]
    assert on["webhooks"] >= 3  # each event, pushed while the service ran
    assert on["status_polls"] >= 1
    assert sum(int(n) for n in on["refusals"].values()) == 1


def test_with_events_off_a_sweep_runs_no_fold(redis_url: str) -> None:
    """Folding reads the streams: off. Expiries (the index) and trims still run."""

    async def sweep(events: bool) -> dict[str, int]:
        r = aredis.Redis.from_url(redis_url)
        db = redis.Redis.from_url(redis_url)
        db.config_resetstat()
        await Sweeper(r, history_days=7, every_seconds=1.0, events=events).sweep()
        calls = _calls(db)
        db.close()
        await r.aclose()
        return calls

    off, on = asyncio.run(sweep(False)), asyncio.run(sweep(True))
    assert "cmdstat_evalsha" not in off and "cmdstat_eval" not in off
    assert off["cmdstat_zrange"] == keys.PARTITIONS  # each partition's due expiries
    assert off["cmdstat_xtrim"] == keys.PARTITIONS + 1  # and the retention of older events
    assert on.get("cmdstat_evalsha", 0) >= keys.PARTITIONS  # stats_fold, once a partition
