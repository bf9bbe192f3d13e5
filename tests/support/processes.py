"""A real `otpservice serve` process on a free port, its output kept in a log file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.servers import free_port, wait_for_port


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log.read_text().splitlines():
            if raw.strip():
                out.append(json.loads(raw))  # every line is one JSON object
        return out


@contextmanager
def serve(
    env: dict[str, str], log: Path, *, server: str = "granian", workers: int = 1
) -> Iterator[Served]:
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otpservice",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--server",
                server,
            ],
            env={**os.environ, **env},
            stdout=sink,
            stderr=sink,
            start_new_session=True,  # its own group: the workers are stopped with it
        )
        try:
            wait_for_port(port, 30)
            yield Served(proc, f"http://127.0.0.1:{port}", log)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the server and every worker it forked
            proc.wait(10)


def kill_instance(pid: int) -> None:
    """SIGKILL a `serve` instance started by serve(): its process group, the server and
    every worker it forked (granian's workers outlive a killed main process)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
