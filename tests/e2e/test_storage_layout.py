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
        keys = [k.decode() for k in db.scan_iter("otp:{p*}:*")]
        # otp:{pN}:<phone tag>:<kind>[:<slot>] per phone, and the partition's own keys
        # otp:{pN}:<kind>: event stream, expiry index (statistics may follow)
        per_phone = [k for k in keys if len(k.split(":")) >= 4 and k.split(":")[2] != "st"]
        kinds = {k.split(":")[3]: k.encode() for k in per_phone}
        assert set(kinds) == {"v", "s"}, keys  # the verification and the phone's send log
        assert len({k.split("}")[0] for k in per_phone}) == 1  # one partition: one slot
        tag = per_phone[0].split("}")[0] + "}"
        partition = {k.split(":")[2] for k in keys if k.startswith(tag) and k not in per_phone}
        assert {"ev", "exp"} <= partition <= {"ev", "exp", "st", "stc"}, keys
        record_key = kinds["v"]
        assert len(record_key) <= 32 and len(kinds["s"]) <= 32
        assert db.type(record_key) == b"string"
        record = db.get(record_key)
        assert record is not None and len(record) < 170
        assert code.encode() not in record and MOBILE.encode() not in record_key
        # Pending: the code's ttl, and an hour's grace for the expiry sweep to record it.
        assert 3_715_000 < db.pttl(record_key) <= 3_721_000  # rounded up to the second

        # A check updates the record in place and keeps its expiry.
        before = db.pttl(record_key)
        assert api.check(created.json()["id"], wrong(code)).status_code == 200
        assert db.get(record_key) != record
        assert 0 < db.pttl(record_key) <= before
        got = api.get(created.json()["id"])
        assert got.status_code == 200 and got.json()["attempts_remaining"] == 4
    db.close()
