"""What `otpservice check` asks Redis: reachable, durable, and able to acknowledge WAIT."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from otpservice.storage.redis_store import RedisStore
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis


def _per_node(info: Any) -> list[dict[str, Any]]:
    """INFO of one node, or a cluster client's {node: INFO} map, as a list of INFO dicts."""
    if isinstance(info, dict) and info and all(isinstance(v, dict) for v in info.values()):
        return list(info.values())
    return [info]


async def redis_findings(
    redis: AnyRedis, store: RedisStore, *, wait_replicas: int
) -> tuple[list[str], list[str]]:
    """(problems, warnings), one line each. Problems make the service fail; warnings risk data."""
    try:
        async with asyncio.timeout(OPERATION_TIMEOUT):
            await redis.ping()
    except (RedisError, TimeoutError) as exc:
        return [f"cannot reach it ({type(exc).__name__})"], []
    problems: list[str] = []
    warnings: list[str] = []
    try:
        await store.scripts.load()
    except Exception:  # StorageUnavailable: the user may not run SCRIPT LOAD / EVALSHA
        problems.append("cannot load the Lua scripts (check the ACL user's permissions)")
    try:
        async with asyncio.timeout(OPERATION_TIMEOUT):
            nodes = _per_node(await redis.info())
    except (RedisError, TimeoutError):
        warnings.append("INFO is not allowed: persistence and replicas not checked")
        return problems, warnings
    primaries = [n for n in nodes if n.get("role", "master") == "master"]
    if not primaries:
        problems.append("connected to a replica, not a primary")
    if any(int(n.get("aof_enabled", 0)) == 0 for n in primaries):
        warnings.append(
            "AOF is off (appendonly no): a crash loses every write since the last snapshot"
        )
    policies = {str(n.get("maxmemory_policy", "noeviction")) for n in primaries}
    if policies - {"noeviction"}:
        warnings.append(
            f"maxmemory-policy is {', '.join(sorted(policies))}: use noeviction "
            "(evicting a counter lifts a limit)"
        )
    if wait_replicas > 0:
        fewest = min((int(n.get("connected_slaves", 0)) for n in primaries), default=0)
        if fewest < wait_replicas:
            problems.append(
                f"OTP_REDIS_WAIT_REPLICAS={wait_replicas} but a primary has {fewest} connected "
                "replica(s): every check would answer 503"
            )
    return problems, warnings
