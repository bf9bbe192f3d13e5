"""The official Twilio Python SDK, unmodified, against the running service (issue 8).

Codes come from the provider simulator's inbox, as a phone would read them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.e2e.conftest import WEB_KEY, Sim, wrong
from tests.twilio_verify.conftest import (
    ACCOUNT,
    API_KEY,
    API_SECRET,
    OTHER_ACCOUNT,
    OTHER_SERVICE,
    OTHER_TOKEN,
    PHONE,
    SERVICE,
    Twilio,
    TwilioFactory,
    twilio_env,
)

VE = re.compile(r"^VE[0-9a-f]{32}$")


def rest_error(call: object) -> TwilioRestException:
    assert callable(call)
    with pytest.raises(TwilioRestException) as info:
        call()
    return info.value


def test_create_fetch_and_check_the_right_code(twilio: Twilio, sim: Sim) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    v = twilio.service.verifications.create(to=PHONE, channel="sms")
    assert VE.match(v.sid)
    assert (v.service_sid, v.account_sid, v.to, v.channel) == (SERVICE, ACCOUNT, PHONE, "sms")
    assert (v.status, v.valid, v.amount, v.payee) == ("pending", False, None, None)
    # The SDK turns only `YYYY-MM-DDTHH:MM:SSZ` into datetimes.
    assert isinstance(v.date_created, dt.datetime) and v.date_created >= before
    assert isinstance(v.date_updated, dt.datetime)
    assert v.send_code_attempts is not None and len(v.send_code_attempts) == 1
    assert v.url == f"{twilio.base_url}/v2/Services/{SERVICE}/Verifications/{v.sid}"

    code = sim.last_code(PHONE)
    assert len(code) == 4  # the service's code length, not OTP_CODE_LENGTH

    fetched = twilio.service.verifications(v.sid).fetch()
    assert (fetched.sid, fetched.status, fetched.to) == (v.sid, "pending", PHONE)

    check = twilio.service.verification_checks.create(to=PHONE, code=code)
    assert (check.sid, check.status, check.valid) == (v.sid, "approved", True)
    assert isinstance(check.date_updated, dt.datetime)

    # Approved is no longer visible: 20404, like an unknown sid.
    err = rest_error(twilio.service.verifications(v.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    err = rest_error(lambda: twilio.service.verification_checks.create(to=PHONE, code=code))
    assert (err.status, err.code) == (404, 20404)


def test_wrong_code_is_200_pending_not_valid(twilio: Twilio, sim: Sim) -> None:
    v = twilio.service.verifications.create(to=PHONE, channel="sms")
    code = sim.last_code(PHONE)
    check = twilio.service.verification_checks.create(verification_sid=v.sid, code=wrong(code))
    assert (check.sid, check.status, check.valid) == (v.sid, "pending", False)
    # A code that cannot be right (not the service's length) is also pending, and uses no attempt.
    check = twilio.service.verification_checks.create(verification_sid=v.sid, code="12345678")
    assert (check.status, check.valid) == ("pending", False)
    check = twilio.service.verification_checks.create(verification_sid=v.sid, code=code)
    assert (check.status, check.valid) == ("approved", True)


def test_exhausted_verification_answers_60202(make_twilio: TwilioFactory, sim: Sim) -> None:
    with make_twilio(OTP_MAX_CHECKS="2") as twilio:
        v = twilio.service.verifications.create(to=PHONE, channel="sms")
        code = sim.last_code(PHONE)
        first = twilio.service.verification_checks.create(to=PHONE, code=wrong(code))
        assert (first.status, first.valid) == ("pending", False)
        last = twilio.service.verification_checks.create(to=PHONE, code=wrong(code))
        assert (last.status, last.valid) == ("max_attempts_reached", False)
        err = rest_error(lambda: twilio.service.verification_checks.create(to=PHONE, code=code))
        assert (err.status, err.code) == (429, 60202)
        # To a fetch it is gone (test_surface_gaps.py covers update too).
        err = rest_error(twilio.service.verifications(v.sid).fetch)
        assert (err.status, err.code) == (404, 20404)
        # A new verification starts afresh, with a new sid.
        again = twilio.service.verifications.create(to=PHONE, channel="sms")
        assert again.sid != v.sid and again.status == "pending"


def test_cancel_and_out_of_band_approval(twilio: Twilio, sim: Sim) -> None:
    v = twilio.service.verifications.create(to=PHONE, channel="sms")
    code = sim.last_code(PHONE)
    canceled = twilio.service.verifications(v.sid).update(status="canceled")
    assert (canceled.sid, canceled.status, canceled.valid) == (v.sid, "canceled", False)
    for call in (
        twilio.service.verifications(v.sid).fetch,
        lambda: twilio.service.verifications(v.sid).update(status="canceled"),
        lambda: twilio.service.verification_checks.create(verification_sid=v.sid, code=code),
    ):
        err = rest_error(call)
        assert (err.status, err.code) == (404, 20404)

    second = twilio.service.verifications.create(to=PHONE, channel="sms")
    assert second.sid != v.sid
    approved = twilio.service.verifications(second.sid).update(status="approved")
    assert (approved.status, approved.valid) == ("approved", True)
    err = rest_error(twilio.service.verifications(second.sid).fetch)
    assert (err.status, err.code) == (404, 20404)


def test_resend_keeps_the_sid_until_max_send_attempts(twilio: Twilio, sim: Sim) -> None:
    first = twilio.service.verifications.create(to=PHONE, channel="sms")
    for sends in (2, 3):
        resent = twilio.service.verifications.create(to=PHONE, channel="sms")
        assert resent.sid == first.sid
        assert resent.send_code_attempts is not None and len(resent.send_code_attempts) == sends
    assert len(sim.messages(PHONE)) == 3
    err = rest_error(lambda: twilio.service.verifications.create(to=PHONE, channel="sms"))
    assert (err.status, err.code) == (429, 60203)
    assert len(sim.messages(PHONE)) == 3
    # The latest code is the one that works.
    check = twilio.service.verification_checks.create(to=PHONE, code=sim.last_code(PHONE))
    assert check.status == "approved"


def test_per_ip_send_limit_is_20429_with_retry_after(make_twilio: TwilioFactory) -> None:
    with make_twilio(OTP_LIMIT_IP_HOUR="1") as twilio:
        twilio.service.verifications.create(to=PHONE, channel="sms", device_ip="203.0.113.7")
        err = rest_error(
            lambda: twilio.service.verifications.create(
                to="+905321234568", channel="sms", device_ip="203.0.113.7"
            )
        )
        assert (err.status, err.code) == (429, 20429)
        # Another end user is not affected.
        other = twilio.service.verifications.create(
            to="+905321234568", channel="sms", device_ip="198.51.100.9"
        )
        assert other.status == "pending"
        r = twilio.raw(
            "POST",
            "/Verifications",
            data={"To": "+905321234569", "Channel": "sms", "DeviceIp": "203.0.113.7"},
        )
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["code"] == 20429


def test_error_bodies_have_twilios_shape(twilio: Twilio) -> None:
    r = twilio.raw("GET", "/Verifications/VE" + "0" * 32)
    assert r.status_code == 404
    assert r.json() == {
        "code": 20404,
        "message": f"The requested resource /Services/{SERVICE}/Verifications/VE{'0' * 32} "
        "was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }
    r = twilio.raw("POST", "/Verifications", data={"To": "not a number", "Channel": "sms"})
    assert r.status_code == 400 and set(r.json()) == {"code", "message", "more_info", "status"}
    assert r.json()["code"] == 60200


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"to": "12", "channel": "sms"}, 400, 60200),
        ({"to": PHONE, "channel": "call"}, 400, 60223),
        ({"to": PHONE, "channel": "whatsapp"}, 400, 60223),
        ({"to": PHONE, "channel": "email"}, 400, 60223),
        ({"to": PHONE, "channel": "pigeon"}, 400, 60200),
        ({"to": PHONE, "channel": "sms", "amount": "10", "payee": "Shop"}, 400, 60200),
        ({"to": PHONE, "channel": "sms", "custom_code": "1234"}, 400, 60200),
        ({"to": PHONE, "channel": "sms", "device_ip": "not-an-ip"}, 400, 60200),
        ({"to": PHONE, "channel": "sms", "locale": "!!"}, 400, 60200),
        ({"to": "+14155552671", "channel": "sms"}, 403, 60605),
    ],
)
def test_create_refusals(
    twilio: Twilio, sim: Sim, params: dict[str, str], status: int, code: int
) -> None:
    err = rest_error(lambda: twilio.service.verifications.create(**params))
    assert (err.status, err.code) == (status, code)
    assert sim.all_messages() == []


def test_prefix_deny_list_is_60410(make_twilio: TwilioFactory, sim: Sim) -> None:
    with make_twilio(OTP_PREFIX_DENY="+90532") as twilio:
        err = rest_error(lambda: twilio.service.verifications.create(to=PHONE, channel="sms"))
        assert (err.status, err.code) == (403, 60410)


def test_check_needs_a_code_and_a_target(twilio: Twilio) -> None:
    err = rest_error(lambda: twilio.service.verification_checks.create(to=PHONE, code="12"))
    assert (err.status, err.code) == (400, 60200)
    err = rest_error(lambda: twilio.service.verification_checks.create(code="1234"))
    assert (err.status, err.code) == (400, 60200)
    err = rest_error(lambda: twilio.service.verification_checks.create(to=PHONE, code="1234"))
    assert (err.status, err.code) == (404, 20404)


def test_update_refuses_other_statuses(twilio: Twilio) -> None:
    v = twilio.service.verifications.create(to=PHONE, channel="sms")
    r = twilio.raw("POST", f"/Verifications/{v.sid}", data={"Status": "pending"})
    assert (r.status_code, r.json()["code"]) == (400, 60200)
    assert twilio.service.verifications(v.sid).fetch().status == "pending"


def test_auth_tokens_api_keys_and_accounts(twilio: Twilio, sim: Sim) -> None:
    bad = twilio.sdk(ACCOUNT, "wrong-token-" + "0" * 20).verify.v2.services(SERVICE)
    err = rest_error(lambda: bad.verifications.create(to=PHONE, channel="sms"))
    assert (err.status, err.code) == (401, 20003)
    assert sim.all_messages() == []

    # An API key acts for its account.
    by_key = twilio.sdk(API_KEY, API_SECRET, ACCOUNT).verify.v2.services(SERVICE)
    v = by_key.verifications.create(to=PHONE, channel="sms")
    assert v.account_sid == ACCOUNT
    assert twilio.service.verifications(v.sid).fetch().sid == v.sid

    # Another account's service, and this account's verification through it: both 20404.
    other = twilio.sdk(OTHER_ACCOUNT, OTHER_TOKEN)
    err = rest_error(other.verify.v2.services(SERVICE).verifications(v.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    err = rest_error(other.verify.v2.services(OTHER_SERVICE).verifications(v.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    err = rest_error(twilio.client.verify.v2.services(OTHER_SERVICE).verifications(v.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    unknown = "VA" + "f" * 32
    err = rest_error(
        lambda: twilio.client.verify.v2.services(unknown).verifications.create(
            to=PHONE, channel="sms"
        )
    )
    assert (err.status, err.code) == (404, 20404)


def test_services_keep_separate_verifications(twilio: Twilio, sim: Sim) -> None:
    """One pending verification per phone and service; the other account's is its own."""
    other = twilio.sdk(OTHER_ACCOUNT, OTHER_TOKEN).verify.v2.services(OTHER_SERVICE)
    mine = twilio.service.verifications.create(to=PHONE, channel="sms")
    my_code = sim.last_code(PHONE)
    theirs = other.verifications.create(to=PHONE, channel="sms")
    their_code = sim.last_code(PHONE)
    assert mine.sid != theirs.sid and len(their_code) == 6  # OTP_CODE_LENGTH by default
    assert other.verification_checks.create(to=PHONE, code=their_code).status == "approved"
    assert twilio.service.verifications(mine.sid).fetch().status == "pending"
    assert twilio.service.verification_checks.create(to=PHONE, code=my_code).valid is True


def test_local_codes_use_the_service_template(make_twilio: TwilioFactory, sim: Sim) -> None:
    services = json.loads(twilio_env()["OTP_TWILIO_SERVICES"])
    services[SERVICE]["template"] = "{name}: your code is {code}"
    with make_twilio(OTP_CODE_SOURCE="local", OTP_TWILIO_SERVICES=json.dumps(services)) as tw:
        tw.service.verifications.create(to=PHONE, channel="sms")
        assert re.fullmatch(r"Acme: your code is \d{4}", sim.messages(PHONE)[0]["text"])
        tw.service.verifications.create(
            to="+905321234568", channel="sms", custom_friendly_name="Shop"
        )
        text = sim.messages("+905321234568")[0]["text"]
        assert text.startswith("Shop: your code is ")
        code = sim.last_code("+905321234568")
        assert tw.service.verification_checks.create(to="+905321234568", code=code).valid


def test_twilio_and_v1_share_the_limits(make_twilio: TwilioFactory) -> None:
    """One set of budgets: a /v1 send from an IP counts for a /v2 send from it."""
    with make_twilio(OTP_LIMIT_IP_HOUR="1") as twilio:
        auth = {"Authorization": f"Bearer {WEB_KEY}"}
        with httpx.Client(base_url=twilio.base_url, headers=auth, timeout=30) as v1:
            body = {"phone": "+905321234568", "client_ip": "203.0.113.7"}
            assert v1.post("/v1/verifications", json=body).status_code == 201
        err = rest_error(
            lambda: twilio.service.verifications.create(
                to=PHONE, channel="sms", device_ip="203.0.113.7"
            )
        )
        assert (err.status, err.code) == (429, 20429)


def test_a_send_in_flight_answers_60212(twilio: Twilio, sim: Sim) -> None:
    sim.fault("latency", latency_ms=1500, times=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(twilio.service.verifications.create, to=PHONE, channel="sms")
        time.sleep(0.4)  # the first send now holds the phone's send lock
        err = rest_error(lambda: twilio.service.verifications.create(to=PHONE, channel="sms"))
        assert (err.status, err.code) == (429, 60212)
        assert slow.result(timeout=10).status == "pending"
    assert len(sim.messages(PHONE)) == 1


def test_failed_send_leaves_nothing_pending(twilio: Twilio, sim: Sim) -> None:
    sim.fault("http_503", times=1)
    err = rest_error(lambda: twilio.service.verifications.create(to=PHONE, channel="sms"))
    assert (err.status, err.code) == (503, 20503)
    err = rest_error(lambda: twilio.service.verification_checks.create(to=PHONE, code="1234"))
    assert (err.status, err.code) == (404, 20404)
    v = twilio.service.verifications.create(to=PHONE, channel="sms")
    assert v.send_code_attempts is not None and len(v.send_code_attempts) == 1
    check = twilio.service.verification_checks.create(to=PHONE, code=sim.last_code(PHONE))
    assert check.status == "approved"
