"""Duplicates of an Idempotency-Key waiting on a slow first request wait on something cheap:
an in-process event on the same instance, a growing poll interval across instances. Counted
as the EVALSHA calls Redis served while the first request waited on a slow provider
(before: one poll every 50 ms per duplicate, 20 a second each)."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from otpservice.storage.scripts import load_script_source
from tests.e2e.conftest import WEB_KEY, Api, Sim, service_env
from tests.support.servers import ServiceServer

PROVIDER_SECONDS = 3.0
DUPLICATES = 5
KEY = {"Idempotency-Key": "wait-cheaply-1"}


# EVALSHA names a script by its SHA1: the name Redis knows it by, not a security use.
SHARED_RESERVE = hashlib.sha1(load_script_source("shared_reserve").encode()).hexdigest()  # noqa: S324


class Monitor:
    """Counts the runs of the shared reserve script (the idempotency step) that Redis
    executes, with MONITOR on its own connection."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.seen = 0
        self.counting = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\r\n")
                if self.counting:
                    self.seen += sum(1 for line in lines if SHARED_RESERVE.encode() in line)

    def close(self) -> None:
        self.sock.close()


def post(base_url: str, phone: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/verifications",
        json={"phone": phone},
        headers={"Authorization": f"Bearer {WEB_KEY}", **KEY},
        timeout=30,
    )


def _duplicates_wait(first_url: str, duplicate_url: str, redis_url: str, sim: Sim) -> int:
    """Send the first request to one instance and DUPLICATES to another (or the same) while
    the provider takes PROVIDER_SECONDS; return the idempotency step's runs meanwhile."""
    monitor = Monitor(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    phone = "+905321234567"
    sim.fault("latency", latency_ms=int(PROVIDER_SECONDS * 1000))
    with ThreadPoolExecutor(DUPLICATES + 1) as pool:
        first = pool.submit(post, first_url, phone)
        time.sleep(0.5)  # the first request now waits on the provider
        monitor.counting = True
        duplicates = [pool.submit(post, duplicate_url, phone) for _ in range(DUPLICATES)]
        answers = [d.result() for d in duplicates]
        time.sleep(0.2)  # the monitor has read everything
        during = monitor.seen
        monitor.close()
        assert first.result().status_code == 201
    sim.clear_faults()
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert {a.json()["id"] for a in answers} == {first.result().json()["id"]}
    assert len(sim.messages(phone[1:])) == 1
    return during


def test_duplicates_on_the_same_instance_wait_on_the_first_request(
    redis_url: str, sim: Sim
) -> None:
    with ServiceServer(service_env(redis_url, sim, OTP_PROVIDER_TIMEOUT_SECONDS="10")) as s:
        Api(s.url).create("+905321230000")  # warm: scripts loaded, pools up
        calls = _duplicates_wait(s.url, s.url, redis_url, sim)
    # Each duplicate: one reserve that finds the key in flight, one that finds the answer.
    # Polling every 50 ms made it about 2.5 s x 20/s x 5 = 250.
    assert calls <= 2 * DUPLICATES, calls


def test_duplicates_on_another_instance_poll_with_a_growing_interval(
    redis_url: str, sim: Sim
) -> None:
    env = service_env(redis_url, sim, OTP_PROVIDER_TIMEOUT_SECONDS="10")
    with ServiceServer(env) as a, ServiceServer(env) as b:
        Api(a.url).create("+905321230000")
        Api(b.url).create("+905321230001")
        calls = _duplicates_wait(a.url, b.url, redis_url, sim)
    # 2.5 s of waiting at 50, 100, 200, 400, 800, 1000 ms: about 7 reads per duplicate.
    assert calls <= 8 * DUPLICATES, calls
