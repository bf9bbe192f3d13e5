"""Webhooks and delivery tracking: the e2e harness (real Redis, the simulator over HTTP, the
service in uvicorn), a real webhook receiver, and the simulator's live state."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from otpservice.simulator import SimulatorState
from tests.e2e.conftest import (  # noqa: F401 - fixtures re-used here
    ADMIN_KEY,
    PROVIDER_KEY,
    WEB_KEY,
    Api,
    ServiceFactory,
    Sim,
    make_service,
    no_code_or_secret_leaks,
    service_env,
    sim,
    wait_until,
    wrong,
)
from tests.support.receiver import Receiver, running_receiver
from tests.support.simulator_server import running_simulator


class LiveSim(Sim):
    """The simulator, with its state object for counting provider requests."""

    def __init__(self, root: str, api: str, state: SimulatorState) -> None:
        super().__init__(root, api)
        self.state = state

    def status_calls(self) -> int:
        """Requests that were neither a send (status and balance polls; balance is off)."""
        return self.state.provider_requests - len(self.state.sent)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[LiveSim]:
    state = SimulatorState.with_account(PROVIDER_KEY, sender_id="OTPSVC")
    with running_simulator(state) as running:
        yield LiveSim(running.root, running.api, state)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def hooks_env(*endpoints: tuple[str, Receiver, list[str]], **extra: str) -> dict[str, str]:
    """OTP_WEBHOOKS for (client, receiver, event patterns)..., fast retries for tests."""
    config: dict[str, list[dict[str, object]]] = {}
    for client, rcv, events in endpoints:
        config.setdefault(client, []).append(
            {"url": rcv.url, "secret": rcv.secret, "events": events}
        )
    env = {
        "OTP_WEBHOOKS": json.dumps(config),
        "OTP_WEBHOOKS_ALLOW_PRIVATE": "1",
        "OTP_WEBHOOK_RETRY_SCHEDULE": "0.1,0.1,0.1,0.1",
        "OTP_WEBHOOK_TIMEOUT_SECONDS": "1",
        "OTP_WEBHOOK_POLL_SECONDS": "0.05",
        "OTP_WEBHOOK_CLAIM_IDLE_SECONDS": "1",
        "OTP_DELIVERY_POLL_SCHEDULE": "0.1,0.3,0.6",
    }
    env.update(extra)
    return env
