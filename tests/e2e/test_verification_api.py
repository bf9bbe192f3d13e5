"""The /v1 verification API end to end: real Redis, simulator, service; codes from the inbox."""

from __future__ import annotations

import datetime as dt
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.conftest import ADMIN_KEY, OTHER_KEY, Api, ServiceFactory, Sim, wait_until, wrong

PHONE = "+905321234567"
MOBILE = "905321234567"


def sleep_until_expired(verification: dict[str, str]) -> None:
    """Until the stated expires_at, as a client would wait (it falls on a whole second)."""
    stamp = dt.datetime.strptime(verification["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    time.sleep(max(0.0, stamp.replace(tzinfo=dt.UTC).timestamp() - time.time()))


def test_request_read_inbox_check_round_trip(api: Api, sim: Sim) -> None:
    created = api.create(PHONE)
    assert created.status_code == 201
    body = created.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["id"])
    assert body["phone"] == "+90532123****"
    assert body["status"] == "pending"
    assert body["channel"] == "sms"
    assert body["purpose"] == "login"
    assert body["sends"] == 1 and body["max_sends"] == 3
    assert body["attempts_remaining"] == 5
    assert body["expires_at"].endswith("Z") and body["resend_available_at"].endswith("Z")

    code = sim.last_code(MOBILE)
    assert code not in created.text
    checked = api.check(body["id"], code)
    assert checked.status_code == 200
    assert checked.json() == {
        "id": body["id"],
        "status": "approved",
        "valid": True,
        "attempts_remaining": 4,
    }
    # Approved is over: replaying the same code, or looking it up, finds nothing.
    assert api.check(body["id"], code).status_code == 404
    assert api.get(body["id"]).status_code == 404


def test_phone_forms_are_one_number(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="0") as api:
        first = api.create("05321234567").json()
        second = api.create("+90 532 123 45 67").json()
        third = api.create("905321234567").json()
    assert first["id"] == second["id"] == third["id"]
    assert third["sends"] == 3
    assert len(sim.messages(MOBILE)) == 3


def test_invalid_phone_and_country(api: Api, sim: Sim) -> None:
    bad = api.create("12345")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "invalid_phone"
    landline = api.create("+90 212 123 45 67")
    assert landline.json()["code"] == "invalid_phone"
    us = api.create("+1 415 555 0123")
    assert us.status_code == 403
    assert us.json()["code"] == "country_not_allowed"
    assert sim.all_messages() == []


def test_problem_shape(api: Api) -> None:
    r = api.create("12345")
    problem = r.json()
    assert set(problem) >= {"type", "title", "status", "detail", "code"}
    assert problem["status"] == 422


def test_wrong_codes_use_attempts_then_max_attempts_reached(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_MAX_CHECKS="3") as api:
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        first = api.check(vid, wrong(code)).json()
        assert first == {"id": vid, "status": "pending", "valid": False, "attempts_remaining": 2}
        assert api.check(vid, wrong(code)).json()["attempts_remaining"] == 1
        last = api.check(vid, wrong(code)).json()
        assert last["status"] == "max_attempts_reached" and last["valid"] is False
        # Out of attempts: even the right code finds nothing, with the same body as unknown ids.
        after = api.check(vid, code)
        unknown = api.check("f" * 64, code)
        assert after.status_code == unknown.status_code == 404
        assert after.json() == unknown.json()
        assert api.get(vid).status_code == 404
        # A new request starts a new verification.
        again = api.create(PHONE)
        assert again.status_code == 201 and again.json()["id"] != vid


def test_not_found_bodies_are_identical_for_every_reason(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_CODE_TTL_SECONDS="1") as api:
        expiring = api.create("+905321234501").json()
        expired = expiring["id"]
        canceled = api.create("+905321234502").json()["id"]
        approved = api.create("+905321234503").json()["id"]
        assert api.cancel(canceled).status_code == 204
        assert api.check(approved, sim.last_code("905321234503")).json()["valid"] is True
        sleep_until_expired(expiring)
        bodies = {api.check(vid, "000000").text for vid in (expired, canceled, approved, "a" * 64)}
        statuses = {api.get(vid).status_code for vid in (expired, canceled, approved, "a" * 64)}
    assert len(bodies) == 1
    assert statuses == {404}


def test_expired_code_is_refused(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_CODE_TTL_SECONDS="1") as api:
        created = api.create(PHONE).json()
        code = sim.last_code(MOBILE)
        sleep_until_expired(created)
        r = api.check(created["id"], code)
    assert r.status_code == 404
    assert r.json()["code"] == "verification_not_found"


def test_resend_keeps_id_sends_new_code_and_old_code_stops_working(
    make_service: ServiceFactory, sim: Sim
) -> None:
    # With OTP_ACCEPT_PREVIOUS_CODE (default) the old code would stay valid: test_previous_code.
    with make_service(
        OTP_RESEND_COOLDOWN_SECONDS="0", OTP_MAX_CHECKS="5", OTP_ACCEPT_PREVIOUS_CODE="false"
    ) as api:
        first = api.create(PHONE).json()
        old = sim.last_code(MOBILE)
        api.check(first["id"], wrong(old))
        second = api.create(PHONE).json()
        new = sim.last_code(MOBILE)
        assert second["id"] == first["id"]
        assert second["sends"] == 2
        # A resend never gives back attempts.
        assert second["attempts_remaining"] == 4
        if old != new:
            stale = api.check(first["id"], old).json()
            assert stale["valid"] is False
        assert api.check(first["id"], new).json()["status"] == "approved"


def test_resend_before_cooldown_and_past_max_sends_are_429(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="30") as api:
        api.create(PHONE)
        early = api.create(PHONE)
        assert early.status_code == 429
        assert early.json()["code"] == "rate_limited"
        assert early.json()["policy"] == "resend_cooldown"
        assert 25 <= int(early.headers["Retry-After"]) <= 30
    assert len(sim.messages(MOBILE)) == 1
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="0", OTP_MAX_SENDS="2") as api:
        api.create("+905321234568")
        assert api.create("+905321234568").status_code == 201
        over = api.create("+905321234568")
        assert over.status_code == 429
        assert over.json()["policy"] == "max_sends"
    assert len(sim.messages("905321234568")) == 2


def test_idempotency_replays_first_answer_and_sends_once(api: Api, sim: Sim) -> None:
    first = api.create(PHONE, idempotency_key="order-42")
    again = api.create(PHONE, idempotency_key="order-42")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(sim.messages(MOBILE)) == 1
    other_body = api.create("+905321234599", idempotency_key="order-42")
    assert other_body.status_code == 409
    assert other_body.json()["code"] == "idempotency_conflict"
    assert sim.messages("905321234599") == []


def test_idempotency_keys_are_scoped_per_client(api: Api, sim: Sim) -> None:
    mine = api.create(PHONE, idempotency_key="k1").json()
    theirs = api.as_client(OTHER_KEY).create(PHONE, idempotency_key="k1")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]


def test_concurrent_duplicates_send_one_sms(api: Api, sim: Sim) -> None:
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: api.create(PHONE, idempotency_key="dup-1"), range(8)))
    created = [r for r in responses if r.status_code == 201]
    assert created, [r.text for r in responses]
    assert len({r.json()["id"] for r in created}) == 1
    assert all(r.status_code in (201, 409) for r in responses)
    assert len(sim.messages(MOBILE)) == 1


def test_check_by_phone_and_purpose(api: Api, sim: Sim) -> None:
    login = api.create(PHONE, purpose="login").json()
    signup = api.create(PHONE, purpose="signup").json()
    assert login["id"] != signup["id"]
    signup_code = sim.last_code(MOBILE)
    r = api.check_phone("0532 123 45 67", signup_code, purpose="signup")
    assert r.json()["status"] == "approved" and r.json()["id"] == signup["id"]
    assert api.get(login["id"]).status_code == 200
    assert api.check_phone(PHONE, signup_code, purpose="payment").status_code == 404


def test_get_and_cancel(api: Api, sim: Sim) -> None:
    vid = api.create(PHONE).json()["id"]
    got = api.get(vid)
    assert got.status_code == 200 and got.json()["id"] == vid
    assert sim.last_code(MOBILE) not in got.text
    assert api.cancel(vid).status_code == 204
    assert api.get(vid).status_code == 404
    assert api.check(vid, sim.last_code(MOBILE)).status_code == 404
    assert api.cancel(vid).status_code == 404


def test_clients_own_their_verifications(api: Api, sim: Sim) -> None:
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(MOBILE)
    other = api.as_client(OTHER_KEY)
    assert other.get(vid).json() == api.get("b" * 64).json()
    assert other.check(vid, code).status_code == 404
    assert other.check_phone(PHONE, code).status_code == 404
    assert other.cancel(vid).status_code == 404
    assert api.check(vid, code).json()["status"] == "approved"


def test_delivery_status_follows_the_provider(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_DELIVERY_POLL_SCHEDULE="0.1,0.5") as api:
        vid = api.create(PHONE).json()["id"]
        assert api.http.get(f"/v1/verifications/{vid}/delivery").json()["state"] == "pending"
        sim.delivery("905321234560", "out_of_coverage")
        vid2 = api.create("+905321234560").json()["id"]

        def state(v: str) -> str:
            answer: str = api.http.get(f"/v1/verifications/{v}/delivery").json()["state"]
            return answer

        wait_until(lambda: state(vid) == "delivered")
        wait_until(lambda: state(vid2) == "out_of_coverage")


def test_balance_needs_an_admin_key(api: Api) -> None:
    assert api.http.get("/v1/provider/balance").status_code == 403
    admin = api.as_client(ADMIN_KEY).http.get("/v1/provider/balance")
    assert admin.status_code == 200
    assert set(admin.json()) == {"local_sms", "international_tl"}


def test_missing_or_wrong_key_is_401(api: Api) -> None:
    bare = httpx.post(f"{api.base_url}/v1/verifications", json={"phone": PHONE})
    assert bare.status_code == 401 and bare.json()["code"] == "unauthorized"
    wrong_key = api.as_client("not-a-real-key-at-all").create(PHONE)
    assert wrong_key.status_code == 401
    assert "not-a-real-key" not in wrong_key.text


def test_local_code_source_with_template_and_autofill(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(
        OTP_CODE_SOURCE="local",
        OTP_CODE_LENGTH="8",
        OTP_TEMPLATE_EN="Your ACME code: {code}",
        OTP_CLIENT_WEBOTP_DOMAINS="web=acme.example",
        OTP_CLIENT_APP_HASHES="web=FA+9qCX9VSu",
    ) as api:
        vid = api.create(PHONE).json()["id"]
        text = sim.messages(MOBILE)[0]["text"]
        code = sim.last_code(MOBILE)
        assert len(code) == 8
        assert text.startswith(f"Your ACME code: {code}")
        assert "FA+9qCX9VSu" in text
        assert text.splitlines()[-1] == f"@acme.example #{code}"
        assert api.check(vid, code).json()["status"] == "approved"


def test_turkish_locale_goes_to_the_provider(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_CODE_SOURCE="local") as api:
        api.create(PHONE, locale="tr")
    assert "Doğrulama" in sim.messages(MOBILE)[0]["text"]


def test_test_numbers_never_reach_the_provider_and_obey_check_limits(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_TEST_NUMBERS="web:+905550000001=135790", OTP_MAX_CHECKS="2") as api:
        vid = api.create("+905550000001").json()["id"]
        assert sim.all_messages() == []
        assert api.check(vid, "135790").json()["status"] == "approved"
        vid = api.create("+905550000001").json()["id"]
        api.check(vid, "000000")
        assert api.check(vid, "000000").json()["status"] == "max_attempts_reached"
        assert api.check(vid, "135790").status_code == 404
        delivery = api.http.get(f"/v1/verifications/{vid}/delivery")
        assert delivery.status_code == 404


def test_provider_outage_leaves_nothing_pending(api: Api, sim: Sim) -> None:
    sim.fault("http_500", times=1)
    failed = api.create(PHONE)
    assert failed.status_code == 503
    assert failed.json()["code"] == "provider_unavailable"
    assert api.check_phone(PHONE, "123456").status_code == 404
    retry = api.create(PHONE)
    assert retry.status_code == 201, "a failed send must not leave a lock or cooldown behind"


def test_provider_refusals_map_to_clear_errors(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_ALLOWED_COUNTRIES="TR,AZ") as api:
        sim.account(international_enabled=False)
        refused = api.create("+994 50 123 45 67")
        assert refused.status_code == 422
        assert refused.json()["code"] == "phone_rejected"
        sim.account(local_balance_sms=0)
        broke = api.create(PHONE)
        assert broke.status_code == 503
        assert broke.json()["code"] == "provider_unavailable"
        assert api.check_phone(PHONE, "123456").status_code == 404
        sim.account(local_balance_sms=1000, per_minute_limit=0)
        limited = api.create(PHONE)
        assert limited.status_code == 503
        assert int(limited.headers["Retry-After"]) >= 1


def test_twenty_concurrent_right_answers_approve_exactly_once(api: Api, sim: Sim) -> None:
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(MOBILE)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: api.check(vid, code), range(20)))
    approved = [r for r in results if r.status_code == 200 and r.json()["status"] == "approved"]
    assert len(approved) == 1
    assert all(r.status_code in (200, 404, 429) for r in results)
    assert not [r for r in results if r.status_code == 200 and r is not approved[0]]


def test_concurrent_wrong_answers_never_exceed_max_checks(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_MAX_CHECKS="5", OTP_CHECK_FREE_FAILURES="100") as api:
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        with ThreadPoolExecutor(30) as pool:
            results = list(pool.map(lambda _: api.check(vid, wrong(code)), range(30)))
    evaluated = [r for r in results if r.status_code == 200]
    assert len(evaluated) == 5
    assert all(r.json()["valid"] is False for r in evaluated)


def test_two_instances_share_state(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service() as a, make_service() as b:
        vid = a.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        assert b.get(vid).status_code == 200
        assert b.check(vid, code).json()["status"] == "approved"
        assert a.check(vid, code).status_code == 404


def test_health_and_readiness(api: Api) -> None:
    assert httpx.get(f"{api.base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api.base_url}/readyz").status_code == 200
