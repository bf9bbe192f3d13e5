"""Every state change of a verification writes its event in the same script, into the
stream of the phone's partition; a blocked prefix writes into the shared stream."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import redis
from redis.asyncio import Redis as AsyncRedis

from otpservice.domain.models import Status, VerificationRef, phone_tag
from otpservice.domain.phone import configure_masking, from_e164, mask_e164, mask_prefix
from otpservice.storage import keys
from otpservice.storage.redis_store import RedisStore
from otpservice.throttling.policies import Limits
from tests.e2e.conftest import SECRET, Api, ServiceFactory, Sim, wrong
from tests.events.streams import raw_events, types_of

PHONE = "+905321234567"
MOBILE = PHONE[1:]
MASKED = "+90532123****"  # the last max(4, OTP_PREFIX_DROP_DIGITS=4) digits hidden


def _db(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_a_flow_writes_one_event_per_change_into_its_partition(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="0", OTP_MAX_CHECKS="3") as api:
        vid = api.create(PHONE).json()["id"]
        first = sim.last_code(MOBILE)
        assert api.create(PHONE).status_code == 201  # a resend
        code = sim.last_code(MOBILE)
        assert api.check(vid, wrong(code)).json()["attempts_remaining"] == 2
        neither = next(c for c in (wrong(code), wrong(wrong(code))) if c != first)
        assert api.check(vid, neither).status_code == 200
        assert api.check(vid, code).json()["status"] == "approved"
    events = raw_events(_db(redis_url))
    assert types_of(events) == [
        "verification.created",
        "send.accepted",
        "send.accepted",
        "check.failed",
        "check.failed",
        "verification.approved",
    ]
    tag = phone_tag(SECRET.encode(), PHONE)
    assert VerificationRef.parse(vid).tag == tag
    stream = keys.event_stream(keys.partition_of(tag))
    for event in events:
        assert event["stream"] == stream
        assert (event["v"], event["c"], event["cc"]) == (vid, "web", "TR")
        assert (event["px"], event["ph"]) == ("90532123", MASKED)
    created, sent, resent, failed, _, approved = (e["d"] for e in events)
    assert created["purpose"] == "login" and created["max_attempts"] == 3
    assert sent["send"] == 1 and resent["send"] == 2
    assert sent["sms_id"] and sent["parts"] == 1 and sent["sms_id"] != resent["sms_id"]
    assert failed["attempts_remaining"] == 2
    assert approved == {"attempts_remaining": 0, "out_of_band": False}
    # No event holds a code, a hash or the full number.
    flat = repr(events)
    assert code not in flat and first not in flat and MOBILE not in flat


def test_cancel_and_max_attempts_are_events(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(OTP_MAX_CHECKS="2") as api:
        canceled = api.create(PHONE).json()["id"]
        assert api.cancel(canceled).status_code == 204
        assert api.cancel(canceled).status_code == 404  # no second event
        spent = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        assert api.check(spent, wrong(code)).status_code == 200
        last = api.check(spent, wrong(code)).json()
        assert last["status"] == "max_attempts_reached"
        assert api.check(spent, code).status_code == 404
    events = raw_events(_db(redis_url))
    assert types_of(events, canceled) == [
        "verification.created",
        "send.accepted",
        "verification.canceled",
    ]
    assert types_of(events, spent) == [
        "verification.created",
        "send.accepted",
        "check.failed",
        "check.failed",
        "verification.max_attempts_reached",
    ]


def test_a_failed_send_is_an_event_with_the_result_code(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service() as api:
        sim.account(local_balance_sms=0)
        broke = api.create(PHONE)
        assert broke.status_code == 503
        sim.account(local_balance_sms=1000)
        sim.fault("http_500", times=1)
        assert api.create(PHONE).status_code == 503
    events = raw_events(_db(redis_url))
    assert types_of(events) == ["send.failed", "send.failed"]
    definite, maybe = (e["d"] for e in events)
    assert definite["result_code"] == "TS-1027" and definite["may_have_sent"] is False
    assert maybe["may_have_sent"] is True and maybe["resend"] is False
    # The id the verification would have had: a history by phone finds the failure.
    assert all(e["v"][:16] == phone_tag(SECRET.encode(), PHONE) for e in events)


def test_out_of_band_approval_is_an_approval_event(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service() as api:
        vid = api.create(PHONE).json()["id"]

    async def approve() -> None:
        db = AsyncRedis.from_url(redis_url)
        store = RedisStore(
            db,
            Limits(),
            code_ttl_seconds=600,
            max_checks=5,
            max_sends=3,
            resend_cooldown_seconds=30,
            idempotency_ttl_seconds=3600,
        )
        await store.set_status(VerificationRef.parse(vid), "web", Status.APPROVED)
        await db.aclose()

    asyncio.run(approve())
    events = raw_events(_db(redis_url))
    assert types_of(events, vid)[-1] == "verification.approved"
    assert events[-1]["d"] == {"attempts_remaining": 5, "out_of_band": True}


def test_a_blocked_prefix_is_one_event_in_the_shared_stream(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(OTP_PREFIX_BURST_NUMBERS="3") as api:
        assert api.create("+905321110061").status_code == 201
        assert api.create("+905321110062").status_code == 201
        assert api.create("+905321110063").status_code == 429
        assert api.create("+905321110064").status_code == 429  # already blocked: no event
    events = [e for e in raw_events(_db(redis_url)) if e["stream"] == keys.SHARED_EVENTS]
    assert [e["t"] for e in events] == ["prefix.blocked"]
    (blocked,) = events
    assert (blocked["c"], blocked["cc"], blocked["px"]) == ("web", "TR", "90532111")
    assert blocked["ph"] == "" and blocked["v"] == ""
    assert blocked["d"]["numbers"] == 3 and blocked["d"]["block_ms"] == 3_600_000


def _twenty_right_checks(api: Api, sim: Sim) -> str:
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(MOBILE)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: api.check(vid, code), range(20)))
    assert sum(r.status_code == 200 for r in results) == 1
    return vid


def test_twenty_parallel_right_checks_write_one_approval(
    api: Api, sim: Sim, redis_url: str
) -> None:
    vid = _twenty_right_checks(api, sim)
    events = raw_events(_db(redis_url))
    assert types_of(events, vid).count("verification.approved") == 1
    assert "check.failed" not in types_of(events, vid)


def test_the_scripts_mask_like_the_python_mask_for_every_drop(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    """Lua computes an event's prefix and mask from the record; they must be the one mask."""
    seen = []
    for drop in (2, 4, 6):
        with make_service(OTP_PREFIX_DROP_DIGITS=str(drop)) as api:
            assert api.create(PHONE, purpose=f"drop{drop}").status_code == 201
        (event,) = [e for e in raw_events(_db(redis_url)) if e["t"] == "verification.created"]
        _db(redis_url).flushall()
        try:
            configure_masking(drop)
            expected = (mask_prefix(from_e164(PHONE).prefix(drop)), mask_e164(PHONE))
        finally:
            configure_masking(4)
        assert (event["px"], event["ph"]) == expected, drop
        seen.append(expected)
    assert seen[0] == ("90532123**", "+90532123****")
    assert seen[2] == ("905321", "+905321******")
