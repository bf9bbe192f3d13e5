"""The store's Lua scripts: where their sources come from, and the one way they run —
bounded in time, Redis errors as StorageUnavailable, a write acknowledged by replicas when
they are configured, and two scripts under different hash tags in one round trip where the
topology allows it. The stores (redis_store.py and its parts, guard/store.py, policy/runtime.py) say
what to run; this module how."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from otpservice.domain.ports import ScriptCall
from otpservice.errors import StorageUnavailable
from otpservice.storage.direct import DirectScripts, NodeScripts

AnyRedis = Redis | RedisCluster

# Every store operation, reads and writes together, must finish within this. The clients
# carry no socket timeout of their own (storage/connect.py): redis-py bounds each write
# with asyncio.wait_for, which on Python 3.11 wraps it in a new task, ~10% of a refused
# request's CPU (bench/); one asyncio.timeout here costs a timer.
OPERATION_TIMEOUT = 2.0

SCRIPTS = (
    "shared_reserve",
    "shared_refund",
    "idempotency_store",
    "phone_reserve",
    "phone_release",
    "phone_commit",
    "check_reserve",
    "check_approve",
    "check_reject",
    "set_status",
    "verification_load",
    "guard_approve",
    "guard_unblock",
    "policy_set",
    "policy_load",
)


# What a caller may be told when a script's reply does not come (a timeout, a dropped
# connection): Redis may have run the script or not. A read changed nothing either way; a
# write may have happened, so its answer says so, never "nothing was changed".
READ_ONLY_SCRIPTS = frozenset({"verification_load", "policy_load"})
_UNKNOWN_WRITE = {
    "shared_reserve": "Storage is unavailable; no SMS was sent. The attempt may have counted "
    "toward the sending limits.",
    "phone_reserve": "Storage is unavailable; no SMS was sent. The attempt may have counted "
    "toward the sending limits.",
    "phone_commit": "Storage is unavailable after the SMS was sent; the code may not have "
    "been recorded. Request a new code.",
    "idempotency_store": "Storage is unavailable after the SMS was sent; the code was "
    "recorded, but a retry with this Idempotency-Key may not replay this answer.",
    "check_reserve": "Storage is unavailable; this check may have used an attempt.",
    "check_approve": "Storage is unavailable; the approval may have been recorded. Read the "
    "verification before checking again.",
    "check_reject": "Storage is unavailable; the failed attempt may have been recorded.",
}
_UNKNOWN_DEFAULT = "Storage is unavailable; the change may have been recorded or not."


def unknown_outcome(script: str) -> str:
    """The 503's detail when ``script``'s reply was lost: only what is known."""
    if script in READ_ONLY_SCRIPTS:
        return "Storage is unavailable; nothing was changed."
    return _UNKNOWN_WRITE.get(script, _UNKNOWN_DEFAULT)


def _lua(name: str, package: str = "otpservice.storage") -> str:
    return (resources.files(package) / "lua" / f"{name}.lua").read_text("utf-8")


_EVENT_CALLS = ("emit_event(", "emit_verification_event(", "count_refusal(")
# OTP_EVENTS=0 (for measuring what events cost): the helpers do nothing.
_EVENTS_OFF = "emit_event = function() return false end\ncount_refusal = function() end"


def load_script_source(
    name: str, *, package: str = "otpservice.storage", events: bool = True
) -> str:
    """A script as Redis runs it: one that reads or writes a verification gets the record's
    layout and helpers (verification.lua) prepended, one that records events or refusals
    the event helpers (storage/lua/events.lua) after it."""
    source = _lua(name, package)
    preludes = []
    if "load_verification(" in source or "save_verification(" in source:
        preludes.append(_lua("verification"))
    if any(call in source for call in (*_EVENT_CALLS, "guard_judge(")):
        preludes.append(_lua("events"))
        if not events:
            preludes.append(_EVENTS_OFF)
    if "guard_judge(" in source:
        preludes.append(_lua("guard"))  # the fraud guard's decisions, for shared_reserve
    return "\n".join([*preludes, source])


class ScriptRunner:
    """Runs SCRIPTS on one connection (a node, Sentinel's primary, or a Cluster)."""

    def __init__(
        self,
        redis: AnyRedis,
        *,
        events: bool = True,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        self.redis = redis
        self._events = events
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        sources = {name: load_script_source(name, events=events) for name in SCRIPTS}
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source) for name, source in sources.items()
        }
        # One node (or Sentinel's primary): script calls skip redis-py's command layers.
        shas = {name: script.sha for name, script in self._scripts.items()}
        # Writes that wait for a replica: the script and its WAIT on one connection.
        self._waiting: DirectScripts | NodeScripts
        self._direct: DirectScripts | None = None
        if isinstance(redis, RedisCluster):
            self._waiting = NodeScripts(redis, sources, shas)
        else:
            self._waiting = self._direct = DirectScripts(redis, sources, shas)

    async def run(
        self,
        name: str,
        keys_: Sequence[str],
        args: Sequence[Any],
        wrote: Callable[[Any], bool] | None = None,
    ) -> Any:
        """A script, bounded, with Redis errors as StorageUnavailable. With replicas
        configured, a reply that ``wrote`` says is a write must be acknowledged by them (fail
        closed); the WAIT goes on the connection that wrote, as it counts only that
        connection's writes (storage/direct.py)."""
        acked: int | None = None
        try:
            if wrote is not None and self._wait_replicas > 0:
                wait = (self._wait_replicas, self._wait_timeout_ms, wrote)
                async with asyncio.timeout(OPERATION_TIMEOUT + self._wait_timeout_ms / 1000):
                    reply, acked = await self._waiting.call(name, keys_, args, wait)
            else:
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    if self._direct is not None:
                        return await self._direct.run(name, keys_, args)
                    return await self._scripts[name](keys=list(keys_), args=list(args))
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable(unknown_outcome(name)) from exc
        if acked is not None and acked < self._wait_replicas:
            raise StorageUnavailable("A replica did not acknowledge the write in time.")
        return reply

    async def run_beside(
        self,
        name: str,
        keys_: Sequence[str],
        args: Sequence[Any],
        wrote: Callable[[Any], bool],
        beside: ScriptCall,
    ) -> tuple[Any, bool]:
        """``name``'s reply, as ``run`` gives it, and whether ``beside`` (a script under
        another hash tag) was written too. On one node without replicas to wait for, both go
        in one round trip; else (a Cluster, where the two tags live on different nodes, or a
        WAIT that belongs to the first write's connection) side by side."""
        if self._direct is not None and self._wait_replicas == 0:
            try:
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    reply, other = await self._direct.run_pair((name, keys_, args), beside)
            except (RedisError, TimeoutError) as exc:
                raise StorageUnavailable(unknown_outcome(name)) from exc
            return reply, not isinstance(other, RedisError)
        outcomes: tuple[Any, Any] = await asyncio.gather(
            self.run(name, keys_, args, wrote), self.run(*beside), return_exceptions=True
        )
        first, other = outcomes
        if isinstance(first, BaseException):
            raise first
        if isinstance(other, BaseException) and not isinstance(other, StorageUnavailable):
            raise other
        return first, not isinstance(other, StorageUnavailable)

    def bounded(self, failure: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._bounded(failure)

    @contextlib.asynccontextmanager
    async def _bounded(
        self, failure: str, seconds: float = OPERATION_TIMEOUT
    ) -> AsyncIterator[None]:
        """A Redis call outside the scripts: bounded in time, failures as StorageUnavailable."""
        try:
            async with asyncio.timeout(seconds):
                yield
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable(failure) from exc

    async def ping(self) -> bool:
        """Redis answers and every script is loaded (a restarted Redis gets them again)."""
        try:
            async with self._bounded("Storage is unavailable."):
                if not await self.redis.ping():
                    return False
                shas = [script.sha for script in self._scripts.values()]
                exists = await self.redis.script_exists(*shas)
            loaded = (
                all(all(v) for v in exists.values()) if isinstance(exists, dict) else all(exists)
            )
            if not loaded:
                await self.load()
            return True
        except StorageUnavailable:
            return False

    async def load(self) -> None:
        async with self._bounded("Storage is unavailable."):
            for name in SCRIPTS:
                await self.redis.script_load(load_script_source(name, events=self._events))

    # -- sends -------------------------------------------------------------------------
