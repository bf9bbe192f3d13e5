"""Run the provider simulator on a real socket for tests.

Usage::

    from otpservice.simulator import SimulatorState
    from tests.support.simulator_server import running_simulator

    state = SimulatorState.with_account("test-key", sender_id="OTPSVC")
    with running_simulator(state) as url:
        client = TurkeySmsClient(api_key="test-key", base_url=url, sender_id="OTPSVC")
        ...            # url == url.api == "http://127.0.0.1:PORT/api/v3"
        url.root       # "http://127.0.0.1:PORT"  (inbox: url.root + "/inbox")

The yielded value is a ``str`` (the API base URL, ready for ``base_url=``) with
``.api`` and ``.root`` attributes. The state object stays live: tests may read or
change it directly while the server runs (it runs in a background thread).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from otpservice.simulator import SimulatorState, create_simulator

__all__ = ["SimulatorUrl", "running_simulator"]


class SimulatorUrl(str):
    """The API base URL, plus ``.root`` (scheme://host:port) and ``.api`` (== itself)."""

    root: str

    def __new__(cls, root: str) -> SimulatorUrl:
        self = super().__new__(cls, root + "/api/v3")
        self.root = root
        return self

    @property
    def api(self) -> str:
        return str(self)


@contextmanager
def running_simulator(
    state: SimulatorState | None = None, *, start_timeout: float = 10.0
) -> Iterator[SimulatorUrl]:
    """Serve ``create_simulator(state)`` with uvicorn on a free 127.0.0.1 port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_simulator(state),
        log_level="warning",
        lifespan="off",
        loop="asyncio",
        timeout_graceful_shutdown=1,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"simulator:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("simulator did not start")
        time.sleep(0.01)
    try:
        yield SimulatorUrl(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=2)
        sock.close()
