"""How a pending verification sits in Redis: one short-named string key per verification,
whose record holds a binary hash (never the code), living exactly as long as the code."""

from __future__ import annotations

import redis

from otpservice.domain.codes import PRESETS, CodeHasher
from otpservice.storage.record import pack_code_hash, unpack_code_hash
from tests.e2e.conftest import ServiceFactory, Sim, wrong

PHONE = "+905321234567"
MOBILE = "905321234567"


def test_packed_code_hashes_round_trip_and_still_verify() -> None:
    for name, preset in PRESETS.items():
        hasher = CodeHasher(b"k" * 32, preset)
        stored = hasher.hash("vid-1", "login", "012345")
        packed = pack_code_hash(stored)
        assert len(packed) <= len(stored) - 15, name
        assert unpack_code_hash(packed) == stored
        assert hasher.matches(unpack_code_hash(packed), "vid-1", "login", "012345")


def test_a_pending_verification_is_one_compact_string_key(
    make_service: ServiceFactory, sim: Sim, redis_url: str
) -> None:
    db = redis.Redis.from_url(redis_url)
    db.flushall()
    with make_service(OTP_CODE_TTL_SECONDS="120") as api:
        created = api.create(PHONE)
        assert created.status_code == 201
        code = sim.last_code(MOBILE)
        keys = [k for k in db.scan_iter("otp:{*}:*") if not k.startswith(b"otp:{g}")]
        kinds = {key.split(b"}:", 1)[1][:1]: key for key in keys}
        assert set(kinds) == {b"v", b"s"}, keys  # the verification and the phone's send log
        record_key = kinds[b"v"]
        assert len(record_key) <= 28 and len(kinds[b"s"]) <= 28
        assert db.type(record_key) == b"string"
        record = db.get(record_key)
        assert record is not None and len(record) < 160
        assert code.encode() not in record and MOBILE.encode() not in record_key
        assert 115_000 < db.pttl(record_key) <= 120_000

        # A check updates the record in place and keeps its expiry.
        before = db.pttl(record_key)
        assert api.check(created.json()["id"], wrong(code)).status_code == 200
        assert db.get(record_key) != record
        assert 0 < db.pttl(record_key) <= before
        got = api.get(created.json()["id"])
        assert got.status_code == 200 and got.json()["attempts_remaining"] == 4
    db.close()
