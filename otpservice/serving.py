"""Serving the app the way production does: granian (or uvicorn) with the connection,
header and shutdown limits, several workers sharing their metrics through files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from otpservice.config import ServerLimits

APP_FACTORY = "otpservice.app:create_app_from_env"
SERVERS = ("granian", "uvicorn")
DEFAULT_SERVER = "granian"
GRACEFUL_SECONDS = 20
# prometheus-client's own variable; named here so that reading it imports nothing.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BACKLOG = 4096  # pending connections the kernel queues (capped by net.core.somaxconn)


def prepare_metrics_dir(workers: int) -> None:
    """Several workers share metrics through files (prometheus-client multiprocess mode).

    prometheus-client picks its storage when it is first imported, so the directory is set
    here, before anything imports it (this module and cli.py import nothing that does), and the
    workers inherit both the variable and a library that has not been imported yet.
    """
    if workers <= 1 and not os.environ.get(MULTIPROC_ENV):
        return
    directory = Path(
        os.environ.get(MULTIPROC_ENV) or Path(tempfile.gettempdir()) / f"otpservice-{os.getpid()}"
    )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # samples of an earlier run
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)


def _raise_open_files_limit(connections: int) -> None:
    """Every held connection is a file descriptor: lift the soft limit towards the hard one
    so that the connection limit, not EMFILE, is what a flood meets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 1024  # Redis, the provider, logs, metrics files
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_server(
    factory: str,
    *,
    server: str,
    host: str,
    port: int,
    workers: int,
    forwarded_allow_ips: str,
    limits: ServerLimits | None = None,
) -> None:
    """Serve an ASGI app factory the way production does (bench/ serves its yardstick
    through this too, so both run on the same server settings)."""
    limits = limits or ServerLimits()
    _raise_open_files_limit(limits.max_connections * workers)
    if server == "uvicorn":
        _serve_uvicorn(factory, host, port, workers, forwarded_allow_ips, limits)
    else:
        _serve_granian(factory, host, port, workers, limits)


def _serve_uvicorn(
    factory: str,
    host: str,
    port: int,
    workers: int,
    forwarded_allow_ips: str,
    limits: ServerLimits,
) -> None:
    import uvicorn

    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        log_config=None,  # our structlog set-up formats uvicorn's records too
        access_log=False,  # one event per request comes from our middleware
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        timeout_keep_alive=limits.header_timeout_seconds,
        backlog=BACKLOG,
        server_header=False,
    )


def _serve_granian(factory: str, host: str, port: int, workers: int, limits: ServerLimits) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    Server(
        factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        # HTTP/1.1 only: with "auto" granian waits for a first byte to tell HTTP/1 from
        # HTTP/2 with no timeout at all, so a connection that sends nothing is held for
        # ever; on HTTP/1 the header timeout runs from the connection's start.
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=limits.header_timeout_seconds * 1000, keep_alive=True
        ),
        backlog=BACKLOG,
        # granian admits this many connections per worker (its default, 1,024 per
        # instance, is what an idle-connection flood exhausted).
        backpressure=limits.max_connections,
        log_enabled=True,
        # granian's own lines go to the root logger, which our structlog set-up formats.
        log_dictconfig={
            "version": 1,
            "disable_existing_loggers": False,
            "loggers": {"_granian": {"handlers": [], "propagate": True}},
        },
        log_access=False,
        workers_kill_timeout=GRACEFUL_SECONDS,
        respawn_failed_workers=True,  # a crashed worker comes back, as with uvicorn
    ).serve()
