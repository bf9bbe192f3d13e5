"""Workers do not outlive their server: SIGKILL of `otpservice serve`'s own process takes
its workers with it, as a crash of the whole server would (otpservice/process.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
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


# A worker as `serve`'s servers spawn one: it reaches the app factory (where the
# parent-death signal is armed) only after its imports, here a second.
_LATE_WORKER = (
    "import sys, time; time.sleep(float(sys.argv[1]))\n"
    "from otpservice.process import exit_with_supervisor\n"
    "exit_with_supervisor(); print('serving', flush=True); time.sleep(60)\n"
)
_SUPERVISOR = (
    "import subprocess, sys, time\n"
    "from otpservice.process import mark_supervisor\n"
    "mark_supervisor()\n"
    "child = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]])\n"
    "print(child.pid, flush=True); time.sleep(60)\n"
)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_worker_whose_server_died_before_it_armed_the_signal_exits() -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-c", _SUPERVISOR, _LATE_WORKER, "1.0"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert supervisor.stdout is not None
    worker = int(supervisor.stdout.readline())
    try:
        os.kill(supervisor.pid, signal.SIGKILL)  # before the worker reaches its app factory
        supervisor.wait(10)
        deadline = time.monotonic() + 15
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(worker), "the orphaned worker kept running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_a_process_that_only_inherited_the_variable_keeps_running(tmp_path: Path) -> None:
    # Its variable names a live process that is not its parent (this test's): no worker of
    # any server of ours, so it neither exits nor arms anything.
    env = {**os.environ, "OTPSERVICE_SUPERVISOR_PID": str(os.getpid())}
    script = tmp_path / "inherited.py"
    script.write_text(_LATE_WORKER.replace("time.sleep(60)", "pass"))
    relay = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
    middle = subprocess.run(
        [sys.executable, "-c", relay, sys.executable, str(script), "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert middle.returncode == 0, middle.stderr
    assert middle.stdout.strip() == "serving"
