"""Admission control: one client's flood must not starve another client's users.

Per instance (worker), in process: what it protects is this process's event loop and the
cores its hash threads share, not a budget that instances must agree on (those live in
Redis). Two mechanisms:

* **In-flight cap.** A client has at most ``client_in_flight`` requests in progress here.
* **Fair rate under contention.** A ticker measures how busy the event loop's thread is
  (its CPU time over wall time) and how late its timers run. While either is above its
  target and more than one client is active, the client with the largest share of recent
  requests gets a request rate of half what it just used (multiplicative decrease); when
  the loop is calm again its rate grows back by a quarter per tick until the limit is
  lifted. Busy time is the signal that matters most: a flood of cheap refusals keeps the
  loop at 100 % with little lag, and then the hash threads (which run at a lower priority,
  app.py) and with them everyone else's checks get no core. A light client (a person
  logging in) never reaches its share, so it is never the one held back. The third signal
  is the hash threads' stretch: a hash's wall time over the CPU time its thread got. When the
  machine is saturated by cheap requests the loop thread may look calm (much of a refusal's
  work is the server's own threads and Redis), yet the niced hash threads, and with them
  everyone's sends and checks, wait for a core: that shows as stretch.

While at most one client is active here and none is held back there is nothing to arbitrate:
the ticker then runs once a window (to forget old arrivals) instead of 20 times a second, and
a second client's first request wakes it at once. A loop that wakes 20 times a second pays a
cold start each time under argon2's memory traffic (bench/NOTES.md).

A request over either limit waits for its turn up to ``queue_seconds``; one that would
have to wait longer is shed. A shed request is answered only after that same wait, so a
client that re-sends at once cannot turn cheap refusals into a flood of its own.

Callers identify clients by name; everything unauthenticated shares one name.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import msgspec

ANONYMOUS = "-"


class AdmissionSettings(msgspec.Struct, frozen=True):
    """``OTP_ADMISSION_*``; see the README's configuration reference."""

    enabled: bool = True
    client_in_flight: int = 32
    queue_seconds: float = 0.25
    lag_target_seconds: float = 0.02
    busy_target: float = 0.6  # the loop thread's share of one core above which it is contended
    # A hash's wall time over its thread's CPU time above which the hash threads are starved
    # (they run niced: a busy machine takes their cores first).
    hash_stretch_target: float = 1.6
    tick_seconds: float = 0.05
    min_rate: float = 5.0  # requests/s a throttled client keeps, per instance


class Shed(Exception):
    """The request was not admitted; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("overloaded")
        self.retry_after = retry_after


class _Client:
    __slots__ = ("arrivals", "in_flight", "next_at", "rate", "waiters")

    def __init__(self) -> None:
        self.in_flight = 0
        self.rate: float | None = None  # None: not throttled
        self.next_at = 0.0  # token bucket of one: the earliest start of the next request
        self.arrivals: deque[float] = deque()  # attempts within the last window
        self.waiters = 0


class Admission:
    """Decides, per request, whether it runs now, after a short wait, or not at all."""

    WINDOW = 1.0  # seconds of attempts that "share of recent requests" looks at
    _client_type = _Client

    def __init__(self, settings: AdmissionSettings) -> None:
        self.settings = settings
        self._clients: dict[str, _Client] = {}
        self.lag = 0.0
        self.busy = 0.0
        self.stretch = 1.0
        self._hash_wall = 0.0
        self._hash_cpu = 0.0
        self.shed_total = 0
        self.ticks = 0
        self._ticker: asyncio.Task[None] | None = None
        self._idle_wait: asyncio.Future[None] | None = None  # the ticker's, while it idles

    # -- the request path ------------------------------------------------------------

    async def acquire(self, name: str) -> None:
        """Wait for this client's turn, or raise Shed after the longest allowed wait."""
        s = self.settings
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = _Client()
            waiting = self._idle_wait
            if waiting is not None and len(self._clients) > 1 and not waiting.done():
                waiting.set_result(None)  # someone to arbitrate between: tick fast again
        now = time.monotonic()
        # Every attempt counts towards the share, admitted or not: counting only admitted
        # starts, a flood held to its minimum rate looked lighter than a person's flows,
        # and the person was the one held back next.
        client.arrivals.append(now)
        wait = 0.0
        if client.rate is not None:
            wait = max(client.next_at - now, 0.0)
        if wait <= s.queue_seconds and client.in_flight < s.client_in_flight:
            if client.rate is not None:
                client.next_at = max(client.next_at, now) + 1.0 / client.rate
            if wait > 0:
                client.waiters += 1
                try:
                    await asyncio.sleep(wait)
                finally:
                    client.waiters -= 1
            if client.in_flight < s.client_in_flight:
                self._start(client)
                return
        # Over its share: hold the answer as long as a turn could have taken, then shed.
        client.waiters += 1
        try:
            await asyncio.sleep(s.queue_seconds)
        finally:
            client.waiters -= 1
        if client.in_flight < s.client_in_flight and (
            client.rate is None or client.next_at <= time.monotonic()
        ):
            if client.rate is not None:
                client.next_at = time.monotonic() + 1.0 / client.rate
            self._start(client)
            return
        self.shed_total += 1
        raise Shed(retry_after=1.0)

    def _start(self, client: _Client) -> None:
        client.in_flight += 1

    def release(self, name: str) -> None:
        client = self._clients.get(name)
        if client is not None:
            client.in_flight -= 1

    # -- the controller --------------------------------------------------------------

    def _recent(self, now: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, client in list(self._clients.items()):
            while client.arrivals and client.arrivals[0] < now - self.WINDOW:
                client.arrivals.popleft()
            if client.arrivals:
                counts[name] = len(client.arrivals)
            elif client.in_flight == 0 and client.waiters == 0 and client.rate is None:
                del self._clients[name]  # idle: forget it (memory stays bounded by clients)
        return counts

    def note_hash(self, wall: float, cpu: float) -> None:
        """A hash just took ``wall`` seconds, ``cpu`` of them on a core (from its thread)."""
        self._hash_wall += wall
        self._hash_cpu += cpu

    def _take_stretch(self) -> float:
        wall, cpu = self._hash_wall, self._hash_cpu
        self._hash_wall = self._hash_cpu = 0.0
        if cpu > 0:
            self.stretch = wall / cpu
        else:  # no hash this tick: the last reading fades
            self.stretch = 1.0 + (self.stretch - 1.0) * 0.5
        return self.stretch

    def adjust(
        self, lag: float, busy: float = 0.0, now: float | None = None, stretch: float = 1.0
    ) -> None:
        """One control step, given the loop's lag and busy share and the hash threads'
        stretch just measured."""
        now = time.monotonic() if now is None else now
        self.lag, self.busy = lag, busy
        s = self.settings
        counts = self._recent(now)
        contended = (
            lag > s.lag_target_seconds or busy > s.busy_target or stretch > s.hash_stretch_target
        )
        if contended and len(counts) > 1:
            heavy = max(counts, key=counts.__getitem__)
            total = sum(counts.values())
            if counts[heavy] * len(counts) > total:  # above its fair share
                client = self._clients[heavy]
                used = counts[heavy] / self.WINDOW
                current = client.rate if client.rate is not None else used
                client.rate = max(s.min_rate, min(current, used) / 2)
            return
        calm = stretch <= 1.0 + (s.hash_stretch_target - 1.0) / 2
        if lag <= s.lag_target_seconds / 2 and busy <= s.busy_target * 0.8 and calm:
            for client in self._clients.values():
                if client.rate is not None:
                    client.rate *= 1.25
                    used = len(client.arrivals) / self.WINDOW
                    if client.rate > 4 * max(used, s.min_rate):
                        client.rate = None  # lifted

    def _nothing_to_arbitrate(self) -> bool:
        return len(self._clients) <= 1 and all(c.rate is None for c in self._clients.values())

    async def _idle(self, seconds: float) -> None:
        """Sleep up to ``seconds``; a second client's arrival (acquire) ends it early."""
        loop = asyncio.get_running_loop()
        self._idle_wait = waiting = loop.create_future()
        timer = loop.call_later(seconds, _settle, waiting)
        try:
            await waiting
        finally:
            timer.cancel()
            self._idle_wait = None

    async def _tick_forever(self) -> None:
        busy = 0.0
        while True:
            started, cpu = time.monotonic(), time.thread_time()
            if self._nothing_to_arbitrate():
                period = self.WINDOW
                await self._idle(period)
            else:
                period = self.settings.tick_seconds
                await asyncio.sleep(period)
            wall = time.monotonic() - started
            # This coroutine runs on the loop's thread: its CPU time is the loop's.
            share = (time.thread_time() - cpu) / wall if wall > 0 else 0.0
            busy = 0.5 * busy + 0.5 * min(share, 1.0)
            self.ticks += 1
            self.adjust(max(wall - period, 0.0), busy, stretch=self._take_stretch())

    def start(self) -> None:
        if self.settings.enabled and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    def throttled(self) -> dict[str, float]:
        """Clients held to a rate right now, and that rate (for metrics and tests)."""
        return {n: c.rate for n, c in self._clients.items() if c.rate is not None}


def _settle(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_result(None)
