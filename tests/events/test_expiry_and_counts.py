"""Expiry as an event (exactly once, by whichever instance sweeps first), refusals as
counts rather than events, and the statistics folded from the streams."""

from __future__ import annotations

import time

import redis

from otpservice.storage import keys
from otpservice.storage.days import utc_day
from tests.e2e.conftest import OTHER_KEY, ServiceFactory, Sim, wait_until
from tests.events.streams import raw_events, types_of

PHONES = ("+905321234567", "+905441234567", "+905551234567", "+905061234567")


def _db(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_each_pending_verification_expires_once_though_two_instances_sweep(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    fast = {"OTP_CODE_TTL_SECONDS": "1", "OTP_EXPIRY_SWEEP_SECONDS": "0.1"}
    with make_service(**fast) as a, make_service(**fast):
        pending = [a.create(phone).json() for phone in PHONES[:2]]
        approved = a.create(PHONES[2]).json()
        assert a.check(approved["id"], sim.last_code(PHONES[2][1:])).status_code == 200
        canceled = a.create(PHONES[3]).json()
        assert a.cancel(canceled["id"]).status_code == 204
        db = _db(redis_url)

        def expired() -> list[dict[str, object]]:
            return [e for e in raw_events(db) if e["t"] == "verification.expired"]

        wait_until(lambda: len(expired()) >= 2, timeout=5)
        time.sleep(0.5)  # both instances keep sweeping: still one event each
        events = raw_events(db)
        # The index's entries go with the first sweep after their expiry (0.1 s here), the
        # approved and the canceled one's too: the instances must still be running for it.
        wait_until(
            lambda: sum(db.zcard(keys.expiry_index(p)) for p in range(keys.PARTITIONS)) == 0,
            timeout=5,
        )
    assert [types_of(events, v["id"]).count("verification.expired") for v in pending] == [1, 1]
    for verification in pending:
        (event,) = [e for e in expired() if e["v"] == verification["id"]]
        (created,) = [
            e for e in events if e["v"] == verification["id"] and e["t"] == "verification.created"
        ]
        late_ms = int(event["id"].split("-")[0]) - created["d"]["expires_at"]
        assert 0 <= late_ms < 3000, late_ms  # within a few seconds of the expiry
        assert event["d"] == {"sends": 1, "attempts_remaining": 5}
    assert "verification.expired" not in types_of(events, approved["id"])
    assert "verification.expired" not in types_of(events, canceled["id"])
    # Swept away: no record left, nothing left in the expiry indexes.
    # The approved and the canceled record may outlive the sweep by their own short TTL
    # (created after the pending ones): they go with it, nothing stays for good.
    left = list(db.scan_iter("otp:{p*}:*:v:*"))
    assert all(0 < db.pttl(k) <= 1000 for k in left), [(k, db.pttl(k)) for k in left]
    wait_until(lambda: not list(db.scan_iter("otp:{p*}:*:v:*")), timeout=3)


def test_a_new_verification_over_an_unswept_expired_one_records_its_expiry(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    # The sweeper runs once at start, then not for a minute: the create notices first.
    with make_service(OTP_CODE_TTL_SECONDS="1", OTP_EXPIRY_SWEEP_SECONDS="60") as api:
        old = api.create(PHONES[0]).json()["id"]
        wait_until(lambda: api.get(old).status_code == 404, timeout=3)  # expired for readers
        new = api.create(PHONES[0]).json()["id"]
    assert new != old
    events = raw_events(_db(redis_url))
    assert types_of(events) == [
        "verification.created",
        "send.accepted",
        "verification.expired",
        "verification.created",
        "send.accepted",
    ]
    assert events[2]["v"] == old


def _refusals(db: redis.Redis) -> dict[str, int]:
    """policy|client|country -> count, summed over minutes and partitions, today."""
    day = utc_day(int(time.time() * 1000))
    found: dict[str, int] = {}
    for part in [*range(keys.PARTITIONS), "g"]:
        for field, n in db.hgetall(keys.refusals_day(part, day)).items():
            _minute, client, policy, country = field.decode().split("|")
            key = f"{policy}|{client}|{country}"
            found[key] = found.get(key, 0) + int(n)
    return found


def test_refusals_are_counts_per_client_policy_and_minute_not_events(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    with make_service(OTP_LIMIT_CLIENT_MINUTE="2", OTP_RESEND_COOLDOWN_SECONDS="30") as api:
        vid = api.create(PHONES[0]).json()["id"]
        assert api.create(PHONES[0]).status_code == 429  # resend_cooldown (per phone)
        assert api.create(PHONES[1]).status_code == 201
        for _ in range(3):
            assert api.create(PHONES[2]).status_code == 429  # client_minute (shared)
        unknown = vid[:32] + "0" * 32
        for _ in range(2):
            assert api.check(unknown, "123456").status_code == 404
        other = api.as_client(OTHER_KEY)
        assert other.check(vid, "123456").status_code == 404  # not theirs: the same 404
    db = _db(redis_url)
    assert _refusals(db) == {
        "resend_cooldown|web|TR": 1,
        "client_minute|web|TR": 3,
        "not_found|web|": 2,
        "not_found|other|": 1,
    }
    events = raw_events(db)
    assert types_of(events) == ["verification.created", "send.accepted"] * 2


def test_statistics_are_folded_once_from_the_streams(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    fast = {"OTP_EXPIRY_SWEEP_SECONDS": "0.1"}
    with make_service(**fast) as a, make_service(**fast):
        for phone in PHONES[:3]:
            vid = a.create(phone).json()["id"]
            assert a.check(vid, sim.last_code(phone[1:])).status_code == 200
        a.create(PHONES[3])
        db = _db(redis_url)

        def totals() -> dict[str, int]:
            found: dict[str, int] = {}
            day = utc_day(int(time.time() * 1000))
            for part in range(keys.PARTITIONS):
                for field, n in db.hgetall(keys.stats_day(part, day)).items():
                    _hour, metric, client, country, _prefix = field.decode().split("|")
                    assert (client, country) == ("web", "TR")
                    found[metric] = found.get(metric, 0) + int(n)
            return found

        wait_until(lambda: totals().get("started") == 4, timeout=5)
        time.sleep(0.4)  # two instances kept folding: nothing counted twice
        assert totals() == {"started": 4, "sent": 4, "parts": 4, "approved": 3}
