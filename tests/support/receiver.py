"""A real HTTP webhook receiver on 127.0.0.1 that verifies every delivery's signature with the
`standardwebhooks` package, the way an integrator's endpoint would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from otpservice.events.signing import new_secret
from tests.support.leaks import COLLECTOR


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int  # what the receiver answered

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


# (delivery so far for this webhook-id, its path) -> (status, seconds to wait before answering)
Script = Callable[[int, str], tuple[int, float]]


@dataclass
class Receiver:
    url: str
    secret: str
    deliveries: list[Delivery] = field(default_factory=list)
    script: Script = field(default=lambda n, path: (200, 0.0))
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_id(self, event_id: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.id == event_id]

    def types(self) -> list[str]:
        with self.lock:
            return [d.json["type"] for d in self.deliveries]

    def ids(self) -> set[str]:
        with self.lock:
            return {d.id for d in self.deliveries}

    def accepted_ids(self) -> set[str]:
        with self.lock:
            return {d.id for d in self.deliveries if 200 <= d.status < 300}

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            assert time.monotonic() < deadline, (
                f"receiver: condition not reached; got {len(self.deliveries)} deliveries: "
                f"{[(d.json.get('type'), d.status) for d in self.deliveries]}"
            )
            time.sleep(0.02)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    verifier = Webhook(receiver.secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verifier.verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
            COLLECTOR.record_response(body.decode("utf-8", "replace"))  # the leak check
            with receiver.lock:
                seen = sum(1 for d in receiver.deliveries if d.id == headers.get("webhook-id"))
                receiver.in_flight += 1
                receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
            status, wait = receiver.script(seen, self.path)
            try:
                if wait:
                    time.sleep(wait)
                with receiver.lock:
                    receiver.deliveries.append(Delivery(self.path, headers, body, verified, status))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the service gave up waiting (its timeout): fine
            finally:
                with receiver.lock:
                    receiver.in_flight -= 1

    return Handler


@contextmanager
def running_receiver(script: Script | None = None) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    port = server.server_address[1]
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook", secret=new_secret())
    if script is not None:
        receiver.script = script
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, name=f"receiver:{port}", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
