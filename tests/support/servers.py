"""Real processes and sockets for tests: a redis-server on a free port, the service in uvicorn."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import redis
import uvicorn

from otpservice.app import create_app
from otpservice.config import load_settings
from tests.support.leaks import COLLECTOR, SERVICE_THREAD, tee_service_logs

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


class RedisProcess:
    """A real redis-server on 127.0.0.1. ``appendonly`` for the durability tests."""

    def __init__(self, directory: Path, *, port: int | None = None, args: tuple[str, ...] = ()):
        self.directory = directory
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--daemonize",
                "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        return self

    def stop(self, *, graceful: bool = True) -> None:
        if self.proc is None:
            return
        if graceful:
            self.proc.terminate()
        else:
            self.proc.kill()
        self.proc.wait(10)
        self.proc = None


def secrets_of(env: Mapping[str, str]) -> list[str]:
    """The values in a service's environment that must never be seen again."""
    found = [env.get("OTP_SECRET", ""), env.get("OTP_PROVIDER_API_KEY", "")]
    for var in ("OTP_API_KEYS", "OTP_ADMIN_API_KEYS"):
        for item in env.get(var, "").split(","):
            key = item.partition("=")[2].strip()
            if key and not key.startswith("sha256:"):
                found.append(key)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        for provider in json.loads(env.get("OTP_PROVIDERS") or "[]"):
            found += [provider.get("api_key", ""), provider.get("secret", "")]
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        for endpoints in json.loads(env.get("OTP_WEBHOOKS") or "{}").values():
            found += [endpoint.get("secret", "") for endpoint in endpoints]
    return [s for s in found if s]


class ServiceServer:
    """The service in uvicorn on a free port, in a thread with its own event loop."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.settings = load_settings(dict(env))
        self.app = create_app(self.settings)
        # The leak check (tests/support/leaks.py) reads every log line and knows every secret.
        tee_service_logs()
        COLLECTOR.record_secrets(*secrets_of(env))
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, daemon=True, name=f"{SERVICE_THREAD}-{self.port}"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServiceServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@contextlib.contextmanager
def running_service(env: Mapping[str, str]) -> Iterator[ServiceServer]:
    with ServiceServer(env) as server:
        yield server
