"""Workers do not outlive their server: SIGKILL of `otpservice serve`'s own process takes
its workers with it, as a crash of the whole server would (otpservice/process.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.conftest import Sim, service_env
from tests.support.processes import serve


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_sigkill_of_the_server_process_ends_its_workers(
    redis_url: str, sim: Sim, tmp_path: Path, server: str
) -> None:
    with serve(service_env(redis_url, sim), tmp_path / "log", server=server, workers=2) as s:
        assert httpx.get(f"{s.url}/healthz", timeout=5).status_code == 200
        workers = [pid for pid in _group_members(s.proc.pid) if pid != s.proc.pid]
        assert workers, "the server forked no worker"
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(10)
        deadline = time.monotonic() + 10
        while _group_members(s.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_members(s.proc.pid) == []
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{s.url}/healthz", timeout=2)
