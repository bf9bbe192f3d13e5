"""The end user's address on Twilio checks, through the official SDK: its HTTP client adds
the X-Device-Ip header (the README's recipe), since the SDK's check takes no DeviceIp."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from tests.e2e.conftest import Sim
from tests.twilio_verify.conftest import ACCOUNT, PHONE, SERVICE, TOKEN, Twilio

END_USER_IP: contextvars.ContextVar[str | None] = contextvars.ContextVar("ip", default=None)


class EndUserHttpClient(TwilioHttpClient):
    """Sends the current end user's address with every Verify request."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        ip = END_USER_IP.get()
        if ip is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "X-Device-Ip": ip}
        return super().request(method, url, *args, **kwargs)


def test_the_sdk_carries_the_address_on_checks_and_an_attacker_elsewhere_cannot_burn_it(
    twilio: Twilio, sim: Sim
) -> None:
    client = Client(ACCOUNT, TOKEN, http_client=EndUserHttpClient())
    client.verify.base_url = twilio.base_url
    service = client.verify.v2.services(SERVICE)
    END_USER_IP.set("198.51.100.23")
    created = service.verifications.create(to=PHONE, channel="sms", device_ip="198.51.100.23")
    code = sim.last_code(PHONE)
    # Someone else, through the same backend but from another network, guesses by number:
    # they reach nothing of the person's (before, these 5 guesses burnt the person's code).
    END_USER_IP.set("203.0.113.66")
    for guess in ("0000", "1111", "2222", "3333", "4444", "5555"):
        with pytest.raises(TwilioRestException) as refused:
            service.verification_checks.create(to=PHONE, code=guess)
        assert (refused.value.status, refused.value.code) == (404, 20404)
    END_USER_IP.set("198.51.100.23")
    check = service.verification_checks.create(to=PHONE, code=code)
    assert check.status == "approved" and check.sid == created.sid
