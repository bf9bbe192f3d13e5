"""End-to-end harness: real Redis, the provider simulator on a socket, the service in uvicorn.

Tests read codes from the simulator's inbox, the way a phone would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest

from otpservice.simulator import SimulatorState
from tests.support.leaks import COLLECTOR
from tests.support.servers import ServiceServer
from tests.support.simulator_server import running_simulator

PROVIDER_KEY = "sim-provider-key-7f3a9c"
WEB_KEY = "web-client-key-0123456789"
OTHER_KEY = "other-client-key-0123456789"
ADMIN_KEY = "admin-client-key-0123456789"
SECRET = "test-secret-" + "x" * 40
CODE = re.compile(r"\b(\d{4,10})\b")


def _seen(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every code that reached a phone joins the leak check's list."""
    COLLECTOR.record_codes(
        m.group(1) for message in messages for m in CODE.finditer(str(message.get("text", "")))
    )
    return messages


class Sim:
    """The provider simulator, seen from a test: its inbox and its admin switches."""

    def __init__(self, root: str, api: str) -> None:
        self.root = root.rstrip("/")
        self.api = api
        self.http = httpx.Client(base_url=self.root, timeout=10)

    def reset(self) -> None:
        self.http.post("/_admin/reset").raise_for_status()

    def messages(self, mobile: str) -> list[dict[str, Any]]:
        """Messages to ``mobile`` (digits, no '+'), newest first."""
        r = self.http.get("/inbox", params={"mobile": mobile.lstrip("+")})
        r.raise_for_status()
        messages: list[dict[str, Any]] = r.json()["messages"]
        return _seen(messages)

    def all_messages(self) -> list[dict[str, Any]]:
        r = self.http.get("/inbox", headers={"Accept": "application/json"})
        r.raise_for_status()
        messages: list[dict[str, Any]] = r.json()["messages"]
        return _seen(messages)

    def last_code(self, mobile: str) -> str:
        messages = self.messages(mobile)
        assert messages, f"no SMS reached {mobile}"
        match = CODE.search(messages[0]["text"])
        assert match, "the SMS has no code"
        return match.group(1)

    def fault(self, mode: str, **extra: Any) -> None:
        self.http.post("/_admin/faults", json={"mode": mode, **extra}).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_admin/faults").raise_for_status()

    def delivery(self, mobile: str, outcome: str) -> None:
        body = {"mobile": mobile.lstrip("+"), "outcome": outcome}
        self.http.post("/_admin/delivery", json=body).raise_for_status()

    def account(self, **fields: Any) -> None:
        self.http.patch(f"/_admin/accounts/{PROVIDER_KEY}", json=fields).raise_for_status()


@pytest.fixture(scope="session")
def sim_server() -> Iterator[Sim]:
    state = SimulatorState.with_account(PROVIDER_KEY, sender_id="OTPSVC")
    with running_simulator(state) as running:
        yield Sim(running.root, running.api)


@pytest.fixture
def sim(sim_server: Sim) -> Sim:
    sim_server.reset()
    return sim_server


def service_env(redis_url: str, sim: Sim, **overrides: str) -> dict[str, str]:
    env = {
        "OTP_SECRET": SECRET,
        "OTP_API_KEYS": f"web={WEB_KEY},other={OTHER_KEY}",
        "OTP_ADMIN_API_KEYS": f"ops={ADMIN_KEY}",
        "OTP_PROVIDER_API_KEY": PROVIDER_KEY,
        "OTP_PROVIDER_BASE_URL": sim.api,
        "OTP_PROVIDER_SENDER_ID": "OTPSVC",
        "OTP_PROVIDER_TIMEOUT_SECONDS": "2",
        "OTP_REDIS_URL": redis_url,
        "OTP_HASH_PRESET": "test",
        # The test preset, a test secret and the simulator over plain http are development
        # settings: production refuses them without this (config_checks.py).
        "OTP_ALLOW_INSECURE": "1",
        "OTP_LOG_FORMAT": "json",
        "OTP_BALANCE_POLL_SECONDS": "0",
    }
    env.update(overrides)
    return env


class Api:
    """A caller of the service: one client key, sync httpx."""

    def __init__(self, base_url: str, key: str = WEB_KEY) -> None:
        self.base_url = base_url
        self.key = key
        self.http = httpx.Client(
            base_url=base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
            event_hooks={"response": [record_response]},
        )

    def as_client(self, key: str) -> Api:
        return Api(self.base_url, key)

    def create(self, phone: str = "+905321234567", **body: Any) -> httpx.Response:
        headers = {}
        if "idempotency_key" in body:
            headers["Idempotency-Key"] = body.pop("idempotency_key")
        return self.http.post("/v1/verifications", json={"phone": phone, **body}, headers=headers)

    def check(self, vid: str, code: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/v1/verifications/{vid}/check", json={"code": code, **body})

    def check_phone(self, phone: str, code: str, **body: Any) -> httpx.Response:
        return self.http.post(
            "/v1/verifications/check", json={"phone": phone, "code": code, **body}
        )

    def get(self, vid: str) -> httpx.Response:
        return self.http.get(f"/v1/verifications/{vid}")

    def cancel(self, vid: str) -> httpx.Response:
        return self.http.delete(f"/v1/verifications/{vid}")


def record_response(response: httpx.Response) -> None:
    """Feeds the leak check: every answer of the service, headers and body."""
    response.read()
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    COLLECTOR.record_response(f"{response.status_code}\n{headers}\n\n{response.text}")


@pytest.fixture(scope="session", autouse=True)
def no_code_or_secret_leaks() -> Iterator[None]:
    """After the whole e2e run: no code that reached a phone, and no secret, appears in any
    response, header or log line (see tests/support/leaks.py for how matches are made)."""
    yield
    if COLLECTOR.responses and COLLECTOR.codes:
        # Not vacuous: services answered, and the tee saw them log.
        assert COLLECTOR.logs, "the leak check saw no service log line: is the tee installed?"
    leaks = COLLECTOR.leaks()
    assert not leaks, "codes or secrets leaked:\n" + "\n".join(leaks[:20])


ServiceFactory = Callable[..., AbstractContextManager[Api]]


@pytest.fixture
def make_service(redis_url: str, sim: Sim) -> ServiceFactory:
    """Start a service with env overrides: ``with make_service(OTP_MAX_CHECKS="2") as api:``"""

    @contextmanager
    def factory(**overrides: str) -> Iterator[Api]:
        with ServiceServer(service_env(redis_url, sim, **overrides)) as server:
            yield Api(server.url)

    return factory


@pytest.fixture
def api(make_service: ServiceFactory) -> Iterator[Api]:
    with make_service() as client:
        yield client


def wrong(code: str) -> str:
    """A code of the same shape that is surely wrong."""
    return "".join(str((int(d) + 1) % 10) for d in code)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
