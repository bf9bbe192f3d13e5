"""Run the simulator as a stand-alone server (``otpservice simulator``)."""

from __future__ import annotations

import logging
import re

import uvicorn

from .app import create_simulator
from .state import SimulatorState


def build_state(api_keys: list[str], sender_id: str = "OTPSVC") -> SimulatorState:
    """Dev accounts: generous balances, international sending enabled."""
    state = SimulatorState()
    for key in api_keys:
        state.add_account(key, sender_id=sender_id, international_enabled=True)
    return state


_SECRET_QUERY = re.compile(r"((?:api_key|text)=)[^&\s\"]*")


class _RedactQuery(logging.Filter):
    """Access-log lines carry full URLs; the OTP and GET-send URLs hold the key and text."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's AccessFormatter unpacks ``args``: redact them, keep their shape.
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def serve(
    host: str = "127.0.0.1",
    port: int = 8025,
    *,
    api_keys: list[str],
    sender_id: str = "OTPSVC",
) -> None:
    """Serve the API under ``/api/v3``, the inbox at ``/inbox``, admin under ``/_admin``."""
    app = create_simulator(build_state(api_keys, sender_id))
    logging.getLogger("uvicorn.access").addFilter(_RedactQuery())
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
