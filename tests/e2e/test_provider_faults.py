"""Provider faults through the simulator's switchboard: a clear 503, nothing pending, no
second SMS, and the failure logged without secrets.

The simulator still processes the request for ``hang``, ``reset`` and ``malformed_json`` (a
real provider may send and then fail to answer), so one SMS reaches the phone; its code must
not work. ``http_5xx`` and ``html`` answer before sending: no SMS at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from tests.e2e.conftest import (
    ADMIN_KEY,
    OTHER_KEY,
    PROVIDER_KEY,
    SECRET,
    WEB_KEY,
    ServiceFactory,
    Sim,
)
from tests.support.leaks import COLLECTOR

PHONE = "+905321234567"
MOBILE = "905321234567"
SECRETS = (PROVIDER_KEY, SECRET, WEB_KEY, OTHER_KEY, ADMIN_KEY)


@pytest.fixture
def db(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def verification_keys(db: redis.Redis) -> list[bytes]:
    return [k for k in db.scan_iter("otp:{p*}:*:v:*") if b":v:" in k]


def assert_clean_503(r: object, *, sim_texts: list[str]) -> dict[str, object]:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = r.json()
    assert problem["code"] == "provider_unavailable"
    # The caller learns that the provider failed, not what it said.
    detail = str(problem["detail"]).lower()
    for fragment in ("<html", "nginx", "body starts", "otp_code", "api_key", "{"):
        assert fragment not in detail, problem
    for text in sim_texts:
        for token in text.split():
            if token.strip(".").isdigit():
                assert token.strip(".") not in r.text
    return problem


FAULTS = [
    # mode, whether the SMS left before the failure
    pytest.param("hang", True, id="hang"),
    pytest.param("reset", True, id="reset"),
    pytest.param("malformed_json", True, id="malformed-json"),
    pytest.param("http_500", False, id="http-500"),
    pytest.param("http_502", False, id="http-502"),
    pytest.param("http_503", False, id="http-503"),
    pytest.param("html", False, id="html"),
]


@pytest.mark.parametrize(("mode", "left"), FAULTS)
def test_provider_fault_is_a_clean_503_with_nothing_pending_and_one_sms_at_most(
    make_service: ServiceFactory, sim: Sim, db: redis.Redis, mode: str, left: bool
) -> None:
    with make_service(OTP_PROVIDER_TIMEOUT_SECONDS="1") as api:
        sim.fault(mode)  # every call fails: a retried send would show up as a second SMS
        mark = COLLECTOR.mark()
        failed = api.create(PHONE)
        messages = sim.messages(MOBILE)
        assert_clean_503(failed, sim_texts=[m["text"] for m in messages])
        # No double send: the client never repeats a send that may have left.
        assert len(messages) == (1 if left else 0)
        # Nothing pending: no verification in Redis, and the code that did reach the
        # phone (if any) does not work.
        assert verification_keys(db) == []
        if left:
            code = sim.last_code(MOBILE)
            assert api.check_phone(PHONE, code).status_code == 404
        else:
            assert api.check_phone(PHONE, "123456").status_code == 404

        # The event is logged with its error code, and without any secret.
        lines = COLLECTOR.lines_since(mark)
        events = [e for e in COLLECTOR.events_since(mark) if e.get("event")]
        failures = [e for e in events if e["event"] == "verification.send_failed"]
        assert len(failures) == 1, events
        assert failures[0]["error"] == "provider_unavailable"
        assert failures[0]["may_have_sent"] is True
        assert failures[0]["phone"] == "+90532123****"
        for line in lines:
            for secret in SECRETS:
                assert secret not in line
            if left:
                assert code not in line.replace(json.dumps(failures[0]), "")

        # Recovered provider: the next request is a brand-new verification, sent once.
        sim.clear_faults()
        again = api.create(PHONE)
        assert again.status_code == 201, again.text
        assert again.json()["sends"] == 1
        assert len(sim.messages(MOBILE)) == len(messages) + 1
        fresh = sim.last_code(MOBILE)
        assert api.check(again.json()["id"], fresh).json()["status"] == "approved"


def test_provider_per_minute_limit_is_503_with_retry_after_and_no_retry(
    make_service: ServiceFactory, sim: Sim, db: redis.Redis
) -> None:
    with make_service() as api:
        sim.account(per_minute_limit=0)  # TS-1060
        mark = COLLECTOR.mark()
        limited = api.create(PHONE)
        problem = assert_clean_503(limited, sim_texts=[])
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after >= 1
        assert problem["retry_after"] == retry_after
        assert sim.messages(MOBILE) == []
        assert verification_keys(db) == []
        assert api.check_phone(PHONE, "123456").status_code == 404
        failures = [
            e for e in COLLECTOR.events_since(mark) if e.get("event") == "verification.send_failed"
        ]
        assert len(failures) == 1
        assert failures[0]["error"] == "provider_unavailable"
        assert failures[0]["result_code"] == "TS-1060"
        assert failures[0]["may_have_sent"] is False
        for line in COLLECTOR.lines_since(mark):
            assert PROVIDER_KEY not in line and SECRET not in line
        # A definite refusal counts toward nothing: once the provider allows it, it sends.
        sim.account(per_minute_limit=100)
        assert api.create(PHONE).status_code == 201
        assert len(sim.messages(MOBILE)) == 1


def test_failed_resend_keeps_the_earlier_code_and_state(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="0", OTP_PROVIDER_TIMEOUT_SECONDS="1") as api:
        first = api.create(PHONE).json()
        code = sim.last_code(MOBILE)
        sim.fault("reset")
        assert api.create(PHONE).status_code == 503
        sim.clear_faults()
        assert len(sim.messages(MOBILE)) == 2  # the resend's SMS may have left: one, no retry
        got = api.get(first["id"]).json()
        assert got["sends"] == 1 and got["expires_at"] == first["expires_at"]
        assert got["attempts_remaining"] == first["attempts_remaining"]
        assert api.check(first["id"], code).json()["status"] == "approved"
