"""storage/direct.py against a real redis-server: what the script calls that skip redis-py's
command layers must still get right."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ResponseError

from otpservice.storage.direct import DirectScripts
from tests.support.servers import RedisProcess

ECHO = "return ARGV[1]"
SLOW = "local n = 0 for i = 1, tonumber(ARGV[1]) do n = n + i end return 'slow'"
KEYED = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"


def scripts_for(client: Redis) -> DirectScripts:
    sources = {"echo": ECHO, "slow": SLOW, "keyed": KEYED}
    shas = {name: client.register_script(src).sha for name, src in sources.items()}
    return DirectScripts(client, sources, shas)


def test_a_script_runs_by_its_source_when_redis_has_not_cached_it(redis_url: str) -> None:
    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        scripts = scripts_for(client)
        await client.script_flush()
        assert await scripts.run("keyed", ["k"], ["v1"]) == b"v1"
        # Now cached by the EVAL: the next call is an EVALSHA that Redis knows.
        assert (await client.script_exists(scripts._shas["keyed"])) == [True]
        assert await scripts.run("keyed", ["k"], ["v2"]) == b"v2"
        await client.aclose()

    asyncio.run(scenario())


def test_an_interrupted_call_never_hands_its_late_reply_to_the_next(redis_url: str) -> None:
    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        scripts = scripts_for(client)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await scripts.run("slow", [], [30_000_000])
        # The next call may get the same connection object: it must be a fresh exchange.
        for n in range(5):
            assert await scripts.run("echo", [], [f"answer-{n}"]) == f"answer-{n}".encode()
        await client.aclose()

    asyncio.run(scenario())


def test_a_restarted_redis_costs_no_call(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path).start()
    try:

        async def scenario() -> None:
            client = Redis.from_url(server.url)
            scripts = scripts_for(client)
            # Several idle connections, all made stale by the restart.
            await asyncio.gather(*(scripts.run("echo", [], [str(i)]) for i in range(4)))
            server.stop()
            server.start()
            answers = await asyncio.gather(*(scripts.run("echo", [], [str(i)]) for i in range(4)))
            assert answers == [str(i).encode() for i in range(4)]
            await client.aclose()

        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_script_error_is_raised_and_the_connection_stays_usable(redis_url: str) -> None:
    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        sources = {"bad": "return redis.call('NOSUCHCOMMAND')", "echo": ECHO}
        shas = {name: client.register_script(src).sha for name, src in sources.items()}
        scripts = DirectScripts(client, sources, shas)
        with pytest.raises(ResponseError, match=r"(?i)unknown"):
            await scripts.run("bad", [], [])
        assert await scripts.run("echo", [], ["fine"]) == b"fine"
        assert len(scripts._idle) == 1  # the same connection, still in step
        await client.aclose()

    asyncio.run(scenario())


def test_a_bounded_pool_stays_bounded_and_shared(redis_url: str) -> None:
    async def scenario() -> None:
        pool = BlockingConnectionPool.from_url(redis_url, max_connections=4, timeout=10)
        client = Redis(connection_pool=pool)
        scripts = scripts_for(client)
        calls = [scripts.run("slow", [], [200_000]) for _ in range(20)]
        # Other commands of the same client get connections while scripts run and after.
        answers = await asyncio.gather(*calls, client.ping(), client.ping())
        assert answers == [b"slow"] * 20 + [True, True]
        assert len(pool._in_use_connections) + len(pool._available_connections) <= 4
        assert len(scripts._idle) <= 2  # half of the pool, at most, kept between calls
        assert await client.ping()
        await client.aclose()

    asyncio.run(scenario())
