"""The Twilio surface answers a fraud guard block as Twilio's Fraud Guard does: 60410."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.twilio_verify.conftest import TwilioFactory

GUARD = {
    "OTP_GUARD_MIN_SENDS": "3",
    "OTP_GUARD_SETTLE_SECONDS": "0",
    "OTP_PREFIX_BURST_NUMBERS": "0",
}


def test_guard_block_is_60410_with_retry_after(make_twilio: TwilioFactory) -> None:
    with make_twilio(**GUARD) as twilio:
        for i in range(3):
            twilio.service.verifications.create(to=f"+90532555{i:04d}", channel="sms")
        with pytest.raises(TwilioRestException) as caught:
            twilio.service.verifications.create(to="+905325550003", channel="sms")
        assert (caught.value.status, caught.value.code) == (403, 60410)
        r = twilio.raw("POST", "/Verifications", data={"To": "+905325550004", "Channel": "sms"})
        assert r.status_code == 403 and r.json()["code"] == 60410
        assert 3500 <= int(r.headers["Retry-After"]) <= 3600


def test_rate_limits_are_caller_defined_rate_limit_keys(make_twilio: TwilioFactory) -> None:
    budgets = '{"user_id": [{"limit": 1, "period": 3600}]}'
    with make_twilio(OTP_RATE_LIMIT_KEYS=budgets) as twilio:
        limits = '{"user_id": "42"}'
        twilio.service.verifications.create(to="+905325550001", channel="sms", rate_limits=limits)
        with pytest.raises(TwilioRestException) as caught:
            twilio.service.verifications.create(
                to="+905335550002", channel="sms", rate_limits=limits
            )
        assert (caught.value.status, caught.value.code) == (429, 20429)
        bad = twilio.raw(
            "POST", "/Verifications", data={"To": "+905345550003", "RateLimits": "[1]"}
        )
        assert bad.status_code == 400 and bad.json()["code"] == 60200
