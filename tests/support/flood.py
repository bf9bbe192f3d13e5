"""Connection floods against a running server: idle sockets and slowly dribbling requests.

Used by the attack test (tests/ops/test_connection_flood.py, moderate counts) and by
bench/connflood.py (the issue's full figure). Plain asyncio streams: one socket each, no
HTTP client library in the way of sending half a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from dataclasses import dataclass, field


def raise_open_files(wanted: int) -> int:
    """Lift this process's soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Held:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    kind: str  # "idle", "header" (a header never finished) or "body" (a body never finished)
    received: bytes = b""
    closed: bool = False  # by the server: end of stream or a reset
    watcher: asyncio.Task[None] | None = None

    def closed_by_server(self) -> bool:
        return self.closed

    async def watch(self) -> None:
        """Read whatever the server sends until it closes the connection."""
        try:
            while chunk := await self.reader.read(4096):
                self.received += chunk
        except OSError:
            pass
        self.closed = True


@dataclass
class Flood:
    host: str
    port: int
    held: list[Held] = field(default_factory=list)
    failed_opens: int = 0
    _dribblers: list[asyncio.Task[None]] = field(default_factory=list)

    async def _open(self, kind: str, first: bytes) -> None:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.failed_opens += 1
            return
        if first:
            writer.write(first)
        held = Held(reader, writer, kind)
        held.watcher = asyncio.create_task(held.watch())
        self.held.append(held)

    async def open(self, kind: str, n: int, *, first: bytes = b"", batch: int = 200) -> None:
        """Open ``n`` connections, ``batch`` at a time, each sending ``first`` (maybe nothing)."""
        for start in range(0, n, batch):
            await asyncio.gather(*(self._open(kind, first) for _ in range(min(batch, n - start))))

    async def idle(self, n: int) -> None:
        await self.open("idle", n)

    async def dribble_headers(self, n: int, every: float) -> None:
        """Slowloris: a request line, then one header byte every ``every`` seconds."""
        await self.open("header", n, first=b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        self._dribble("header", b"a", every)

    async def dribble_bodies(self, n: int, every: float, *, path: str, key: str = "") -> None:
        """Complete headers announcing 1,000 bytes, then one body byte every ``every`` s."""
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        if key:
            head += f"Authorization: Bearer {key}\r\n"
        head += "Content-Length: 1000\r\n\r\n{"
        await self.open("body", n, first=head.encode())
        self._dribble("body", b" ", every)

    def _dribble(self, kind: str, byte: bytes, every: float) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                for h in self.held:
                    if h.kind == kind and not h.closed_by_server():
                        with contextlib.suppress(OSError, RuntimeError):
                            h.writer.write(byte)

        self._dribblers.append(asyncio.create_task(loop()))

    def open_count(self, kind: str | None = None) -> int:
        return sum(
            1 for h in self.held if (kind is None or h.kind == kind) and not h.closed_by_server()
        )

    def answers(self, kind: str) -> list[bytes]:
        """What the server sent on the connections of ``kind`` it has closed."""
        return [h.received for h in self.held if h.kind == kind and h.closed]

    async def close(self) -> None:
        for task in self._dribblers:
            task.cancel()
        for h in self.held:
            if h.watcher is not None:
                h.watcher.cancel()
            with contextlib.suppress(OSError, RuntimeError):
                h.writer.close()
        self.held.clear()


async def timed_get(host: str, port: int, path: str, within: float) -> tuple[int, float]:
    """(status, milliseconds) of one GET on a fresh connection; status 0 if none came."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            status_line = await reader.readline()
            writer.close()
    except (TimeoutError, OSError):
        return 0, (time.perf_counter() - started) * 1000
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, (time.perf_counter() - started) * 1000
