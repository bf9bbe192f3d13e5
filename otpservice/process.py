"""Worker processes die with the server process that started them.

granian (and uvicorn with several workers) fork workers from a supervisor. If the
supervisor is killed outright (SIGKILL, the OOM killer), nothing tells the workers: they
keep their sockets and background tasks (sweeper, webhook delivery, polling) alive as
orphans nobody supervises. Linux's parent-death signal ends them with it, exactly like a
crash of the whole server, so a restart starts from a clean slate.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

SUPERVISOR_PID = "OTPSERVICE_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def mark_supervisor() -> None:
    """Called by `otpservice serve` before it starts the server: its workers are the
    processes whose parent has this pid."""
    os.environ[SUPERVISOR_PID] = str(os.getpid())


def exit_with_supervisor() -> None:
    """In a worker forked by `serve`'s server: be killed when that server dies. Does
    nothing in the supervisor itself (one process, no fork) or outside Linux."""
    if not sys.platform.startswith("linux") or os.environ.get(SUPERVISOR_PID) != str(os.getppid()):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return
    if os.getppid() == 1:  # the supervisor died before the signal was armed
        os._exit(1)
