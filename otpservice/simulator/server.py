"""Run the simulator as a stand-alone server (``otpservice simulator``)."""

from __future__ import annotations

import uvicorn

from .app import create_simulator
from .state import SimulatorState


def build_state(api_keys: list[str], sender_id: str = "OTPSVC") -> SimulatorState:
    """Dev accounts: generous balances, international sending enabled."""
    state = SimulatorState()
    for key in api_keys:
        state.add_account(key, sender_id=sender_id, international_enabled=True)
    return state


def serve(
    host: str = "127.0.0.1",
    port: int = 8025,
    *,
    api_keys: list[str],
    sender_id: str = "OTPSVC",
) -> None:
    """Serve the API under ``/api/v3``, the inbox at ``/inbox``, admin under ``/_admin``."""
    app = create_simulator(build_state(api_keys, sender_id))
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
