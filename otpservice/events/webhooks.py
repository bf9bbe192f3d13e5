"""Webhooks: every event of the log, pushed to the client's endpoints, signed (Standard
Webhooks), at least once.

Two background loops per instance (each worker process):
* fan-out: reads the event streams through a consumer group ``webhooks-<hash of the endpoint
  list>`` (each entry goes to one instance; a dead instance's pending entries are claimed by
  another) and queues one
  delivery per matching endpoint in Redis (events/webhook_queue.py), then acknowledges;
* dispatch: takes due deliveries under a lease, POSTs them (5 s, no redirects, at most
  ``concurrency`` in flight per endpoint) and records the outcome: 2xx ends it, 410 disables
  the endpoint, anything else is retried on the schedule (exponential, with jitter) until it
  is a dead letter.
Nothing here runs in a request: a slow or dead endpoint costs the API nothing, and what
waits, waits in Redis (bounded per endpoint; overflow becomes dead letters).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import random
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import msgspec
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from otpservice import __version__
from otpservice.errors import StorageUnavailable
from otpservice.events.signing import sign
from otpservice.events.streams import StreamEvent, StreamGroup, all_streams, run_forever
from otpservice.events.webhook_queue import Taken, WebhookQueue
from otpservice.storage.scripts import AnyRedis
from otpservice.webhooks_config import (
    ALL_CLIENTS,
    WebhookEndpoint,
    WebhookSettings,
    is_private_host,
)

log = structlog.get_logger("otpservice.webhooks")

GROUP_PREFIX = "webhooks-"
JITTER = 0.2  # each retry delay is its schedule entry +-20 %


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "otp_webhook_attempts",
            "Webhook delivery attempts by endpoint id and outcome (delivered, failed, gone).",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "otp_webhook_dead_letters",
            "Events that became dead letters, by endpoint id and reason "
            "(exhausted, overflow, endpoint_gone, endpoint_disabled).",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.duration = Histogram(
            "otp_webhook_attempt_duration_seconds",
            "Time of one webhook delivery attempt.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )


def group_name(settings: WebhookSettings) -> str:
    """One consumer group per set of endpoints: instances configured alike share the work;
    an instance with another list (a rolling change of OTP_WEBHOOKS) reads every event in
    its own group instead of taking events away from the others. Where two lists share an
    endpoint, both queue each event for it, and the queue keeps one of the two."""
    ids = "\n".join(sorted(e.id for e in settings.endpoints))
    return GROUP_PREFIX + hashlib.sha256(ids.encode()).hexdigest()[:8]


def matches(endpoint: WebhookEndpoint, event: StreamEvent) -> bool:
    if endpoint.client != ALL_CLIENTS and endpoint.client != event.client:
        return False
    return any(fnmatch.fnmatchcase(event.type, pattern) for pattern in endpoint.events)


def retry_delay(schedule: tuple[float, ...], attempts_made: int) -> float:
    """Seconds before the next attempt after ``attempts_made`` (>= 1) failed ones."""
    base = schedule[min(attempts_made, len(schedule)) - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not secrecy


class Webhooks:
    def __init__(
        self,
        redis: AnyRedis,
        settings: WebhookSettings,
        metrics: WebhookMetrics,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.queue = WebhookQueue(redis, settings)
        self.group = StreamGroup(
            redis,
            group_name(settings),
            all_streams(),
            claim_idle_seconds=settings.claim_idle_seconds,
        )
        self.endpoints = {e.id: e for e in settings.endpoints}
        self._in_flight = dict.fromkeys(self.endpoints, 0)
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=settings.concurrency * len(self.endpoints) + 1),
            trust_env=False,
            transport=transport,
            headers={"user-agent": f"otpservice/{__version__} (webhooks)"},
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.endpoints:
            await self.group.prepare()
            self._loops = [
                asyncio.create_task(self._forever(self.fan_out_once)),
                asyncio.create_task(self._forever(self.dispatch_once)),
            ]

    async def stop(self) -> None:
        """Stop now: what is in flight keeps its lease and is retried after it."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        await self._http.aclose()

    async def _forever(self, step: Callable[[], Awaitable[bool]]) -> None:
        await run_forever(step, self.settings.poll_seconds, "webhooks.loop_failed")

    # -- fan-out: stream entries -> per-endpoint queues -------------------------------------

    async def fan_out_once(self) -> bool:
        events = await self.group.read()
        if not events:
            return False
        jobs = [
            self._enqueue(endpoint, event)
            for event in events
            for endpoint in self.endpoints.values()
            if matches(endpoint, event)
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        if any(isinstance(r, BaseException) for r in results):
            # Not acknowledged: the entries come back (XAUTOCLAIM) and queue once more at
            # most, as enqueueing an event an endpoint already holds changes nothing.
            return False
        await self.group.ack(events)
        return len(events) > 0

    async def _enqueue(self, endpoint: WebhookEndpoint, event: StreamEvent) -> None:
        body = msgspec.json.encode(event.payload())
        outcome = await self.queue.enqueue(endpoint, event.id, body)
        if outcome in ("overflow", "endpoint_disabled"):
            self.metrics.dead_letters.labels(endpoint.id, outcome).inc()
            log.warning(
                "webhook.dead_letter", endpoint=endpoint.id, event_id=event.id, reason=outcome
            )

    # -- dispatch: due deliveries -> HTTP ---------------------------------------------------

    async def dispatch_once(self) -> bool:
        took = False
        for endpoint in self.endpoints.values():
            free = self.settings.concurrency - self._in_flight[endpoint.id]
            if free <= 0:
                continue
            for taken in await self.queue.take(endpoint, free):
                took = True
                self._in_flight[endpoint.id] += 1
                self._spawn(self._deliver(endpoint, taken))
        return took

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, endpoint: WebhookEndpoint, taken: Taken) -> None:
        try:
            outcome, status = await self._attempt(endpoint, taken)
            attempts = taken.attempts + 1
            delay = retry_delay(self.settings.retry_schedule, attempts)
            result, dead = await self.queue.result(endpoint, taken, outcome, status, delay)
        except StorageUnavailable:
            return  # the lease runs out and the delivery is retried
        finally:
            self._in_flight[endpoint.id] -= 1
        label = {"ok": "delivered", "fail": "failed", "gone": "gone"}[outcome]
        self.metrics.attempts.labels(endpoint.id, label).inc()
        fields = {"endpoint": endpoint.id, "event_id": taken.event_id, "status": status}
        if result == "delivered":
            log.info("webhook.delivered", attempts=attempts, **fields)
        elif result == "retry":
            log.info("webhook.retry", attempts=attempts, retry_in=round(delay, 3), **fields)
        elif result == "exhausted":
            self.metrics.dead_letters.labels(endpoint.id, "exhausted").inc()
            log.warning("webhook.dead_letter", reason="exhausted", attempts=attempts, **fields)
        elif result == "gone":
            self.metrics.dead_letters.labels(endpoint.id, "endpoint_gone").inc()
            if dead > 1:
                self.metrics.dead_letters.labels(endpoint.id, "endpoint_disabled").inc(dead - 1)
            log.warning("webhook.endpoint_disabled", dead_letters=dead, **fields)

    async def _attempt(self, endpoint: WebhookEndpoint, taken: Taken) -> tuple[str, str]:
        """One POST: (ok | fail | gone, status or error name)."""
        url = httpx.URL(endpoint.url)
        if not self.settings.allow_private and await self._resolves_private(url.host):
            return "fail", "private_address"
        headers = sign(endpoint.secret, taken.event_id, time.time(), taken.body)
        headers["content-type"] = "application/json"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                # Streamed and never read: a huge or endless answer costs nothing.
                async with self._http.stream("POST", url, content=taken.body, headers=headers) as r:
                    status = r.status_code
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            return "fail", "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        finally:
            self.metrics.duration.observe(time.perf_counter() - started)
        if 200 <= status < 300:
            return "ok", str(status)
        if status == 410:
            return "gone", str(status)
        return "fail", str(status)

    @staticmethod
    async def _resolves_private(host: str) -> bool:
        """Checked at every attempt, as DNS may change after start-up."""
        if is_private_host(host):
            return True
        with contextlib.suppress(OSError):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
            return any(is_private_host(str(info[4][0])) for info in infos)
        return False
