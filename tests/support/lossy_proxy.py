"""A TCP proxy in front of a real redis-server that can lose one reply on purpose.

Armed with some bytes (a script's SHA1, say), it forwards the command that carries them,
lets Redis run it, then throws Redis's reply away and closes the client's connection: the
write happened, and the client cannot know. Runs on its own event loop in a thread, so a
service in the test process or in a subprocess can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


class LossyProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.lost = 0  # replies thrown away so far
        self._needle: bytes | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lossy-proxy")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_reply_to(self, needle: bytes) -> None:
        """Lose the reply to the next command whose bytes contain ``needle`` (once)."""
        self._loop.call_soon_threadsafe(setattr, self, "_needle", needle)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        losing = asyncio.Event()

        async def up() -> None:
            while chunk := await client_r.read(65536):
                if self._needle is not None and self._needle in chunk:
                    self._needle = None
                    losing.set()
                redis_w.write(chunk)
                await redis_w.drain()
            redis_w.close()

        async def down() -> None:
            while chunk := await redis_r.read(65536):
                if losing.is_set():  # the reply to the armed command: Redis has run it
                    self.lost += 1
                    client_w.transport.abort()
                    redis_w.close()
                    return
                client_w.write(chunk)
                await client_w.drain()
            client_w.close()

        with contextlib.suppress(OSError, ConnectionError):
            await asyncio.gather(up(), down())

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@contextlib.contextmanager
def lossy_proxy(upstream_port: int) -> Iterator[LossyProxy]:
    with LossyProxy(upstream_port) as proxy:
        yield proxy
