"""Event log tests: the e2e harness (real Redis, the simulator over HTTP, the service)."""

from __future__ import annotations

from tests.e2e.conftest import (  # noqa: F401 - fixtures re-used here
    api,
    make_service,
    no_code_or_secret_leaks,
    sim,
    sim_server,
)
