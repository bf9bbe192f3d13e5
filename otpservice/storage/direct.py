"""Script calls on a single Redis node (or a Sentinel's primary) without redis-py's
per-command layers.

Through ``Redis.execute_command`` a script call went through a retry wrapper, an async
observability recorder (four connection-count updates and an event dispatch per command,
even with nothing listening), an async pool lock and a reconnect check: about a fifth of a
refused request's CPU (bench/profiles). Here a call takes an idle connection of its own,
writes ``EVALSHA`` and reads the reply; that is all a script call needs.

What the wrapper gave that still holds:
* connections are redis-py's own, taken from the client's pool (address, credentials, TLS,
  Sentinel's primary lookup, hiredis packing, its bound on connections) and closed with it;
  up to ``IDLE_KEPT`` stay with these calls between them, the rest go back to the pool;
* a connection that idled while the server went away is found before use (an EOF or data
  waiting on its socket) and replaced, so a Redis restart costs no request;
* a connection whose exchange failed or was interrupted (a timeout) is dropped, never
  reused with a reply still in flight;
* ``NOSCRIPT`` (a restarted or flushed Redis) runs the script by its source, which caches it.

There is no silent retry after a failed exchange: a script that may have run is not run
twice; the caller learns the outcome is unknown (storage/scripts.py).

A write that must reach a replica (``OTP_REDIS_WAIT_REPLICAS``) is followed by ``WAIT`` on
the same connection: WAIT counts the replicas that have the writes of the connection it is
sent on, so on another pooled connection it could count an older write and let an
unreplicated one through. On a Cluster the same exchange runs on a connection of the node
that holds the keys (``NodeScripts``).
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError, ResponseError

IDLE_KEPT = 64  # connections kept between calls, at most (the rest go back to the pool)

# (replicas, timeout ms, whether a reply is a write that needs them)
WaitFor = tuple[int, int, Callable[[Any], bool]]


async def script_exchange(
    conn: Any,
    sha: str,
    source: bytes,
    keys: Sequence[Any],
    args: Sequence[Any],
    wait: WaitFor | None = None,
) -> tuple[Any, int | None]:
    """A script's reply on ``conn`` and, when ``wait`` asks for it after this reply, how many
    replicas acknowledged it (WAIT on the same connection)."""
    try:
        await conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
        reply = await conn.read_response()
    except NoScriptError:
        await conn.send_command("EVAL", source, len(keys), *keys, *args)
        reply = await conn.read_response()
    if wait is None or not wait[2](reply):
        return reply, None
    await conn.send_command("WAIT", wait[0], wait[1])
    return reply, int(await conn.read_response())


async def exchange_pair(
    conn: Any, calls: Sequence[tuple[str, bytes, Sequence[Any], Sequence[Any]]]
) -> list[Any]:
    """Scripts (sha, source, keys, args) written in one go on ``conn`` and their replies read
    in order: one round trip. A reply that is an error is returned, not raised, so that every
    reply is read and the connection stays in step; a script the server did not know runs
    again by its source."""
    commands = [("EVALSHA", sha, len(keys), *keys, *args) for sha, _, keys, args in calls]
    await conn.send_packed_command(conn.pack_commands(commands))
    replies: list[Any] = []
    for _ in calls:
        try:
            replies.append(await conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
    for i, (_, source, keys, args) in enumerate(calls):
        if isinstance(replies[i], NoScriptError):
            await conn.send_command("EVAL", source, len(keys), *keys, *args)
            try:
                replies[i] = await conn.read_response()
            except ResponseError as exc:
                replies[i] = exc
    return replies


Call = tuple[str, Sequence[Any], Sequence[Any]]  # script name, keys, args


class _Scripts:
    def __init__(self, sources: dict[str, str], shas: dict[str, str]) -> None:
        """``shas``: each source's SHA1, as redis-py's registered scripts know them."""
        self._sources = {name: source.encode() for name, source in sources.items()}
        self._shas = dict(shas)


class DirectScripts(_Scripts):
    def __init__(self, redis: Redis, sources: dict[str, str], shas: dict[str, str]) -> None:
        super().__init__(sources, shas)
        self._pool = redis.connection_pool
        self._idle: list[Any] = []
        # Kept connections count as in use in the pool: leave at least half of a bounded
        # pool to its other callers (and to calls beyond these, which wait on the pool).
        self._keep = min(IDLE_KEPT, max(1, self._pool.max_connections // 2))

    async def _connection(self) -> Any:
        if not self._idle:
            return await self._pool.get_connection()  # type: ignore[no-untyped-call]
        conn = self._idle.pop()
        if _stale(conn):
            await conn.disconnect()
            try:
                await conn.connect()
            except BaseException:
                await self._pool.release(conn)
                raise
        return conn

    async def _done(self, conn: Any) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(conn)
        else:
            await self._pool.release(conn)

    async def run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return (await self.call(name, keys, args))[0]

    async def call(
        self, name: str, keys: Sequence[Any], args: Sequence[Any], wait: WaitFor | None = None
    ) -> tuple[Any, int | None]:
        conn = await self._connection()
        try:
            result = await script_exchange(
                conn, self._shas[name], self._sources[name], keys, args, wait
            )
        except ResponseError:
            await self._done(conn)  # the server answered: the connection is in step
            raise
        except BaseException:
            # A reply may still be on its way: never reuse this exchange's socket.
            await conn.disconnect()
            await asyncio.shield(self._pool.release(conn))
            raise
        await self._done(conn)
        return result

    async def run_pair(self, first: Call, second: Call) -> tuple[Any, Any]:
        """Two scripts in one round trip: the first's reply (its error raised) and the
        second's reply or error (returned: the caller decides what it costs)."""
        conn = await self._connection()
        calls = [(self._shas[n], self._sources[n], k, a) for n, k, a in (first, second)]
        try:
            replies = await exchange_pair(conn, calls)
        except BaseException:
            # A reply may still be on its way: never reuse this exchange's socket.
            await conn.disconnect()
            await asyncio.shield(self._pool.release(conn))
            raise
        await self._done(conn)
        if isinstance(replies[0], ResponseError):
            raise replies[0]
        return replies[0], replies[1]


class NodeScripts(_Scripts):
    """The script-then-WAIT exchange on a Cluster: on a connection of the primary that holds
    the keys' slot, taken from redis-py's own node (its pool, credentials and TLS)."""

    def __init__(self, cluster: RedisCluster, sources: dict[str, str], shas: dict[str, str]):
        super().__init__(sources, shas)
        self._cluster = cluster

    async def call(
        self, name: str, keys: Sequence[Any], args: Sequence[Any], wait: WaitFor | None = None
    ) -> tuple[Any, int | None]:
        node = self._cluster.get_node_from_key(keys[0])
        if node is None:
            raise ResponseError("no node holds the slot")
        conn = node.acquire_connection()
        try:
            result = await script_exchange(
                conn, self._shas[name], self._sources[name], keys, args, wait
            )
        except ResponseError as exc:
            node.release(conn)  # the server answered: the connection is in step
            if isinstance(exc, MovedError | AskError):
                # The slot moved (resharding, failover): the script did not run. The next
                # call finds its new home.
                await self._cluster.nodes_manager.initialize()
            raise
        except BaseException:
            await conn.disconnect()
            node.release(conn)
            raise
        node.release(conn)
        return result


def _stale(conn: Any) -> bool:
    """Whether an idle connection is unfit to send on: closed, or with anything to read (an
    EOF or bytes nobody asked for). Asked of the socket itself: the event loop may not yet
    have seen a server that went away while the connection idled."""
    reader, writer = conn._reader, conn._writer
    if reader is None or writer is None or reader.at_eof() or writer.is_closing():
        return True
    sock = writer.get_extra_info("socket")
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    poller = select.poll()  # not select.select: descriptors above 1024 are common here
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
