"""Fixtures: the simulator in-process (ASGI) and on a real socket (uvicorn), and clients.

``sim`` is parametrised so every contract test runs over both transports. The socket
server is session-wide (started once) and reset to its initial state before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from otpservice.providers.turkeysms import ProviderTimeouts, TurkeySmsClient
from otpservice.simulator import Account, SimulatorState, create_simulator
from tests.support.simulator_server import SimulatorUrl, running_simulator

API_KEY = "tsk_LIVE_Qm7ZpX2v9KdR4wYhN8cT"  # distinctive, to grep for leaks
SENDER = "OTPSVC"
MOBILE = "905321234567"
FOREIGN = "447700900123"
FAST = ProviderTimeouts(connect=0.5, read=0.5, total=1.0)


def asgi(app: Any) -> httpx.ASGITransport:
    """In-process transport (Litestar's ASGI types and httpx's do not line up for mypy)."""
    return httpx.ASGITransport(app=app)


def base_state() -> SimulatorState:
    return SimulatorState.with_account(
        API_KEY, sender_id=SENDER, international_enabled=True
    ).with_account("tsk_other_account_key_0000", sender_id="OTHER")


@dataclass
class Sim:
    kind: str  # "asgi" or "socket"
    state: SimulatorState
    api: str
    root: str
    app: Any = None

    @property
    def account(self) -> Account:
        return self.state.accounts[API_KEY]

    def transport(self) -> httpx.AsyncBaseTransport | None:
        return None if self.app is None else asgi(self.app)

    def client(self, **kwargs: Any) -> TurkeySmsClient:
        options: dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": self.api,
            "sender_id": SENDER,
            "timeouts": FAST,
            "transport": self.transport(),
        }
        options.update(kwargs)
        return TurkeySmsClient(**options)

    def admin(self) -> httpx.AsyncClient:
        """Raw HTTP to the simulator root (admin, inbox, hand-made provider requests)."""
        return httpx.AsyncClient(base_url=self.root, transport=self.transport(), timeout=5)


@pytest.fixture(scope="session")
def socket_simulator() -> Iterator[tuple[SimulatorState, SimulatorUrl]]:
    state = base_state()
    with running_simulator(state) as url:
        yield state, url


@pytest.fixture(params=["asgi", "socket"])
def sim(
    request: pytest.FixtureRequest, socket_simulator: tuple[SimulatorState, SimulatorUrl]
) -> Sim:
    if request.param == "asgi":
        state = base_state()
        app = create_simulator(state)
        return Sim("asgi", state, "http://simulator/api/v3", "http://simulator", app)
    state, url = socket_simulator
    state.reset()
    return Sim("socket", state, url.api, url.root)


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[TurkeySmsClient]:
    async with sim.client() as c:
        yield c
