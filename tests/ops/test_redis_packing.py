"""The service's Redis connections pack commands with hiredis (storage/connect.py): the
same bytes as redis-py's own packer, the same refusals, on a single node and a Cluster."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from otpservice.config import load_settings
from otpservice.storage.connect import HiredisPacking, connect_redis
from tests.support.topologies import ClusterProcesses

ARGS = [
    ("EVALSHA", "f" * 40, 2, "otp:{p1}:x", "otp:{p1}:y", 1.5, -7, b"\x00\xffbin", "şü"),
    ("SCRIPT LOAD", "return 1"),
    (b"CONFIG GET", "maxmemory"),
]


def settings_for(url: str, **extra: str) -> object:
    env = {"OTP_SECRET": secrets.token_urlsafe(48), "OTP_REDIS_URL": url}
    env |= {"OTP_API_KEYS": "a=" + secrets.token_urlsafe(24)}
    env |= {"OTP_PROVIDER_API_KEY": secrets.token_urlsafe(20), "OTP_ALLOW_INSECURE": "1"}
    env |= extra
    return load_settings(env)


@pytest.mark.parametrize("args", ARGS)
def test_the_packed_bytes_are_redis_pys_own(args: tuple[object, ...]) -> None:
    class Packed(HiredisPacking, Connection):
        pass

    ours = b"".join(Packed().pack_command(*args))
    theirs = b"".join(Connection().pack_command(*args))
    assert ours == theirs


def test_what_redis_py_refuses_is_refused() -> None:
    class Packed(HiredisPacking, Connection):
        pass

    with pytest.raises(DataError):
        Packed().pack_command("SET", "k", None)


async def _round_trips(client: object, key: str) -> list[object]:
    r = client  # type: ignore[assignment]
    try:
        script = r.register_script(
            "return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[2])}"
        )  # type: ignore[attr-defined]
        first = await script(keys=[key], args=["şü", 3])
        second = await script(keys=[key], args=["x", 4])
        return [first, second]
    finally:
        await r.aclose()  # type: ignore[attr-defined]


def test_single_node_connections_pack_with_hiredis(redis_url: str) -> None:
    client = connect_redis(settings_for(redis_url))  # type: ignore[arg-type]
    assert issubclass(client.connection_pool.connection_class, HiredisPacking)  # type: ignore[union-attr]
    first, second = asyncio.run(_round_trips(client, "otp:{p1}:packing"))
    assert first == [b"otp:{p1}:packing", "şü".encode(), 3]
    assert second == [b"otp:{p1}:packing", b"x", 7]


def test_cluster_connections_pack_with_hiredis(cluster: ClusterProcesses) -> None:
    cluster.flush()
    client = connect_redis(settings_for(cluster.url, OTP_REDIS_CLUSTER="true"))  # type: ignore[arg-type]
    keys = [f"otp:{{p{n}}}:packing" for n in range(16)]  # spread over the 3 primaries

    async def everywhere() -> list[object]:
        try:
            script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            out = [await script(keys=[k], args=[n + 1]) for n, k in enumerate(keys)]
            nodes = client.get_nodes()  # type: ignore[union-attr]
            assert nodes and all(issubclass(n.connection_class, HiredisPacking) for n in nodes)
            return out
        finally:
            await client.aclose()

    assert asyncio.run(everywhere()) == list(range(1, 17))
