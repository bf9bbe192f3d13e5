"""The Twilio surface's gaps of issue 12, with the official Python SDK against the running
service: service resources, landlines (60205), phone input, exhausted verifications, per-service
send pacing, CustomFriendlyName in the SMS and the Twilio-Request-Id header."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.e2e.conftest import Sim, wrong
from tests.twilio_verify.conftest import (
    ACCOUNT,
    OTHER_ACCOUNT,
    OTHER_SERVICE,
    PHONE,
    SERVICE,
    TOKEN,
    Twilio,
    TwilioFactory,
)

SECOND_SERVICE = "VA" + "1f" * 16
TWILIO_PACED = "VA" + "2a" * 16  # Twilio's pacing: no cooldown, 5 sends, 5 per phone per 10 min
PHONE_PACED = "VA" + "3b" * 16  # many sends per verification, 2 per phone per 10 min


def rest_error(call: object) -> TwilioRestException:
    assert callable(call)
    with pytest.raises(TwilioRestException) as info:
        call()
    return info.value


def services_env(**extra: dict[str, object]) -> str:
    services: dict[str, dict[str, object]] = {
        SERVICE: {
            "account": ACCOUNT,
            "code_length": 4,
            "ttl_seconds": 120,
            "friendly_name": "Acme",
        },
        SECOND_SERVICE: {"account": ACCOUNT},
        OTHER_SERVICE: {"account": OTHER_ACCOUNT},
        **extra,
    }
    return json.dumps(services)


def test_a_service_is_fetched_and_listed_as_twilio_answers(make_twilio: TwilioFactory) -> None:
    with make_twilio(OTP_TWILIO_SERVICES=services_env()) as twilio:
        service = twilio.client.verify.v2.services(SERVICE).fetch()
        assert (service.sid, service.account_sid, service.friendly_name) == (
            SERVICE,
            ACCOUNT,
            "Acme",
        )
        assert service.code_length == 4 and service.lookup_enabled is False
        assert service.url == f"{twilio.base_url}/v2/Services/{SERVICE}"
        assert service.links is not None
        assert service.links["verifications"] == f"{service.url}/Verifications"
        second = twilio.client.verify.v2.services(SECOND_SERVICE).fetch()
        assert second.code_length == 6  # OTP_CODE_LENGTH when the service sets none

        # Only the caller's account's services, one page at a time (the SDK follows the pages).
        listed = twilio.client.verify.v2.services.list(page_size=1)
        assert sorted(s.sid for s in listed) == sorted([SERVICE, SECOND_SERVICE])
        with httpx.Client(base_url=twilio.base_url, auth=(ACCOUNT, TOKEN)) as http:
            first = http.get("/v2/Services", params={"PageSize": "1"}).json()
            assert first["meta"]["key"] == "services" and len(first["services"]) == 1
            assert first["meta"]["next_page_url"] and first["meta"]["previous_page_url"] is None
            bad = http.get("/v2/Services", params={"PageSize": "0"})
            assert (bad.status_code, bad.json()["code"]) == (400, 60200)

        for sid in (OTHER_SERVICE, "VA" + "f" * 32):
            err = rest_error(twilio.client.verify.v2.services(sid).fetch)
            assert (err.status, err.code) == (404, 20404)


def test_a_landline_answers_60205(twilio: Twilio, sim: Sim) -> None:
    err = rest_error(
        lambda: twilio.service.verifications.create(to="+90 212 123 45 67", channel="sms")
    )
    assert (err.status, err.code) == (400, 60205)
    assert sim.all_messages() == []


def test_phone_characters_nobody_types_answer_60200(twilio: Twilio, sim: Sim) -> None:
    for to in ("+90 545 123 45 11 \u260e", "+905451234511abc", "+90 545 123 45 11 ext. 9"):
        err = rest_error(lambda to=to: twilio.service.verifications.create(to=to, channel="sms"))
        assert (err.status, err.code) == (400, 60200)
        assert "To" in err.msg
    assert sim.all_messages() == []
    # What people do type still works.
    ok = twilio.service.verifications.create(to="+90 (545) 123-45.11", channel="sms")
    assert ok.to == "+905451234511"


def test_an_exhausted_verification_is_gone_to_fetch_and_update_but_60202_to_check(
    make_twilio: TwilioFactory, sim: Sim
) -> None:
    with make_twilio(OTP_MAX_CHECKS="1") as twilio:
        v = twilio.service.verifications.create(to=PHONE, channel="sms")
        code = sim.last_code(PHONE)
        last = twilio.service.verification_checks.create(to=PHONE, code=wrong(code))
        assert last.status == "max_attempts_reached"
        for call in (
            lambda: twilio.service.verification_checks.create(to=PHONE, code=code),
            lambda: twilio.service.verification_checks.create(verification_sid=v.sid, code=code),
        ):
            err = rest_error(call)
            assert (err.status, err.code) == (429, 60202)
        for call in (
            twilio.service.verifications(v.sid).fetch,
            lambda: twilio.service.verifications(v.sid).update(status="canceled"),
            lambda: twilio.service.verifications(v.sid).update(status="approved"),
        ):
            err = rest_error(call)
            assert (err.status, err.code) == (404, 20404)


def test_each_service_paces_its_own_sends(make_twilio: TwilioFactory, sim: Sim) -> None:
    services = services_env(
        **{
            TWILIO_PACED: {
                "account": ACCOUNT,
                "resend_cooldown_seconds": 0,
                "max_sends": 5,
                "phone_10m": 5,
            },
            PHONE_PACED: {
                "account": ACCOUNT,
                "resend_cooldown_seconds": 0,
                "max_sends": 20,
                "phone_10m": 2,
            },
        }
    )
    with make_twilio(
        OTP_TWILIO_SERVICES=services,
        OTP_RESEND_COOLDOWN_SECONDS="30",
        OTP_MAX_SENDS="3",
        OTP_LIMIT_PHONE_10M="3",
    ) as twilio:
        # A user tapping "resend" within seconds, as apps moved from Twilio do.
        paced = twilio.client.verify.v2.services(TWILIO_PACED).verifications
        sids = {paced.create(to="+905321110001", channel="sms").sid for _ in range(5)}
        assert len(sids) == 1
        assert len(sim.messages("905321110001")) == 5
        err = rest_error(lambda: paced.create(to="+905321110001", channel="sms"))
        assert (err.status, err.code) == (429, 60203)

        per_phone = twilio.client.verify.v2.services(PHONE_PACED).verifications
        for _ in range(2):
            per_phone.create(to="+905321110002", channel="sms")
        err = rest_error(lambda: per_phone.create(to="+905321110002", channel="sms"))
        assert (err.status, err.code) == (429, 20429)

        # A service without pacing of its own keeps the settings: a 30 s cooldown.
        twilio.service.verifications.create(to="+905321110003", channel="sms")
        err = rest_error(
            lambda: twilio.service.verifications.create(to="+905321110003", channel="sms")
        )
        assert (err.status, err.code) == (429, 20429)
        assert len(sim.messages("905321110003")) == 1


def test_custom_friendly_name_reaches_the_sms(make_twilio: TwilioFactory, sim: Sim) -> None:
    with make_twilio(OTP_CODE_SOURCE="local", OTP_LIMIT_PHONE_10M="10") as twilio:
        twilio.service.verifications.create(to=PHONE, channel="sms", custom_friendly_name="Shop")
        text = sim.messages(PHONE)[0]["text"]
        assert "Shop" in text and "Acme" not in text
        twilio.service.verifications.create(to="+905321110004", channel="sms", locale="en")
        assert "Your Acme verification code is" in sim.messages("905321110004")[0]["text"]


def test_every_answer_carries_a_twilio_request_id(twilio: Twilio) -> None:
    rq = re.compile(r"^RQ[0-9a-f]{32}$")
    created = twilio.raw("POST", "/Verifications", data={"To": PHONE, "Channel": "sms"})
    missing = twilio.raw("GET", "/Verifications/VE" + "0" * 32)
    with httpx.Client(base_url=twilio.base_url) as http:
        unauthorized = http.get(f"/v2/Services/{SERVICE}")
    ids = set()
    for r in (created, missing, unauthorized):
        assert rq.match(r.headers["Twilio-Request-Id"]), r.headers
        ids.add(r.headers["Twilio-Request-Id"])
        # The same request as the service's own log and X-Request-ID name it.
        assert r.headers["Twilio-Request-Id"] == "RQ" + r.headers["X-Request-ID"]
    assert len(ids) == 3
    assert (created.status_code, missing.status_code, unauthorized.status_code) == (201, 404, 401)
