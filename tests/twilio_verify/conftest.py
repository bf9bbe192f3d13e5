"""The service in uvicorn, the provider simulator, and the official Twilio SDK pointed at it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
from twilio.rest import Client
from twilio.rest.verify.v2.service import ServiceContext

# The simulator fixtures are shared with the /v1 end-to-end suite.
from tests.e2e.conftest import Sim, service_env, sim, sim_server  # noqa: F401
from tests.support.servers import ServiceServer

ACCOUNT = "AC" + "0a" * 16
TOKEN = "auth-token-" + "5" * 21
API_KEY = "SK" + "0b" * 16
API_SECRET = "api-key-secret-" + "6" * 17
OTHER_ACCOUNT = "AC" + "0c" * 16
OTHER_TOKEN = "other-token-" + "7" * 20
SERVICE = "VA" + "0d" * 16  # 4-digit codes, 2-minute TTL
OTHER_SERVICE = "VA" + "0e" * 16  # belongs to OTHER_ACCOUNT
PHONE = "+905321234567"


def twilio_env(**overrides: str) -> dict[str, str]:
    services = {
        SERVICE: {
            "account": ACCOUNT,
            "code_length": 4,
            "ttl_seconds": 120,
            "friendly_name": "Acme",
        },
        OTHER_SERVICE: {"account": OTHER_ACCOUNT},
    }
    return {
        "OTP_TWILIO_ACCOUNTS": (
            f"{ACCOUNT}:{TOKEN}=web,{API_KEY}:{API_SECRET}={ACCOUNT},{OTHER_ACCOUNT}:{OTHER_TOKEN}=other"
        ),
        "OTP_TWILIO_SERVICES": json.dumps(services),
        "OTP_RESEND_COOLDOWN_SECONDS": "0",
        **overrides,
    }


class Twilio:
    """The SDK as a migrating backend uses it, plus raw HTTP for headers and bodies."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = self.sdk(ACCOUNT, TOKEN)
        self.service: ServiceContext = self.client.verify.v2.services(SERVICE)

    def sdk(self, username: str, password: str, account_sid: str | None = None) -> Client:
        client = Client(username, password, account_sid)
        client.verify.base_url = self.base_url  # the one line a migration changes
        return client

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.base_url, auth=(ACCOUNT, TOKEN), timeout=30) as http:
            return http.request(method, f"/v2/Services/{SERVICE}{path}", **kwargs)


TwilioFactory = Callable[..., AbstractContextManager[Twilio]]


@pytest.fixture(autouse=True)
def _sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # An edge or region from the environment would rewrite the host the SDK calls.
    for name in ("TWILIO_EDGE", "TWILIO_REGION", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


@pytest.fixture
def make_twilio(redis_url: str, sim: Sim) -> TwilioFactory:  # noqa: F811
    @contextmanager
    def factory(**overrides: str) -> Iterator[Twilio]:
        env = service_env(redis_url, sim, **twilio_env(**overrides))
        with ServiceServer(env) as server:
            yield Twilio(server.url)

    return factory


@pytest.fixture
def twilio(make_twilio: TwilioFactory) -> Iterator[Twilio]:
    with make_twilio() as tw:
        yield tw
