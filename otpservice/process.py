"""Worker processes die with the server process that started them.

granian (and uvicorn with several workers) fork workers from a supervisor. If the
supervisor is killed outright (SIGKILL, the OOM killer), nothing tells the workers: they
keep their sockets and background tasks (sweeper, webhook delivery, polling) alive as
orphans nobody supervises. Linux's parent-death signal ends them with it, exactly like a
crash of the whole server, so a restart starts from a clean slate.

A worker arms that signal when it builds the app, which on a busy machine can be seconds
after it was spawned: a supervisor killed in between has already left it an orphan, and
the signal would never come. Such a worker exits at once instead.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

SUPERVISOR_PID = "OTPSERVICE_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def mark_supervisor() -> None:
    """Called by `otpservice serve` before it starts the server: its workers are the
    processes whose parent has this pid."""
    os.environ[SUPERVISOR_PID] = str(os.getpid())


def exit_with_supervisor() -> None:
    """In a worker forked by `serve`'s server: be killed when that server dies, or exit now
    if it already has. Does nothing in the supervisor itself (one process, no fork), in a
    process that merely inherited the variable, or outside Linux."""
    supervisor = os.environ.get(SUPERVISOR_PID, "")
    if not sys.platform.startswith("linux") or not supervisor.isdigit():
        return
    if supervisor == str(os.getpid()):  # the supervisor itself: one process, no fork
        return
    if str(os.getppid()) != supervisor:
        # Re-parented: the supervisor died before this worker got here. Or no worker at
        # all: a process that inherited the variable from elsewhere, its supervisor alive.
        if not _running(int(supervisor)):
            os._exit(1)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return
    if str(os.getppid()) != supervisor:  # it died between the check and the arming
        os._exit(1)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, killed but not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")
