"""Runtime policy: overrides of the abuse policies kept in Redis, validated as the
environment is, applied by every instance within about a second, and audited.

The overrides are variable -> value strings, exactly what the environment would hold;
the effective settings are config.policy_fields over the environment with them on top.
Each instance polls the version (one GET a second) and reloads when it moves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import msgspec
import structlog

from otpservice.config import ConfigError, Settings
from otpservice.errors import InvalidPolicy, PolicyConflict, StorageUnavailable
from otpservice.policy.variables import runtime_variables, with_overrides
from otpservice.storage import keys
from otpservice.storage.record import text
from otpservice.storage.redis_store import RedisStore

log = structlog.get_logger("otpservice.policy")

POLL_SECONDS = 1.0
MAX_VALUE_LENGTH = 8192
# Shown as their variable names only in the audit event: they may hold full numbers.
UNSHOWN = frozenset({"OTP_GUARD_SAFE_NUMBERS"})


class Variable(msgspec.Struct, frozen=True):
    name: str
    value: str | None  # None: the built-in default
    source: str  # "runtime" | "environment" | "default"


class RuntimePolicy:
    def __init__(
        self,
        store: RedisStore,
        base: Settings,
        apply: Callable[[Settings], None],
        *,
        on_version: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self.base = base
        self._apply = apply
        self._on_version = on_version
        self.version = 0
        self.overrides: dict[str, str] = {}
        self.effective = base

    async def _load(self) -> tuple[int, dict[str, str]]:
        reply = await self._store.scripts.run("policy_load", [keys.POLICY, keys.POLICY_VERSION], [])
        values = [text(v) for v in reply]
        return int(values[0]), dict(zip(values[1::2], values[2::2], strict=True))

    async def refresh(self) -> bool:
        """Apply what Redis holds if its version moved; True when something was applied."""
        async with self._store.scripts.bounded("Storage is unavailable."):
            raw = await self._store.redis.get(keys.POLICY_VERSION)
        if int(raw or 0) == self.version:
            return False
        version, overrides = await self._load()
        known = set(runtime_variables())
        usable = {k: v for k, v in overrides.items() if k in known}
        try:
            effective = with_overrides(self.base, usable)
        except ConfigError as exc:
            # The environment changed under stored overrides (say a share for a client that
            # is gone): run on the environment alone and say which, until an admin fixes it.
            log.error("policy.runtime_invalid", error=str(exc), version=version)
            usable, effective = {}, self.base
        self.version, self.overrides, self.effective = version, usable, effective
        self._apply(effective)
        if self._on_version is not None:
            self._on_version()
        log.info("policy.applied", version=version, overrides=sorted(usable))
        return True

    async def watch(self, every: float = POLL_SECONDS) -> None:
        while True:
            try:
                await self.refresh()
            except StorageUnavailable:
                pass  # Redis away: keep the last policy, try again next tick
            except Exception as exc:  # never let the watcher die: log and go on
                log.error("policy.refresh_failed", error_type=type(exc).__name__)
            await asyncio.sleep(every)

    async def change(
        self,
        admin: str,
        set_: Mapping[str, str],
        reset: Sequence[str] = (),
        *,
        reset_all: bool = False,
    ) -> None:
        """Validate on top of the current overrides and store; refused changes change nothing."""
        known = set(runtime_variables())
        unknown = sorted((set(set_) | set(reset)) - known)
        if unknown:
            raise InvalidPolicy(f"{unknown[0]} cannot be changed at runtime.")
        for name, value in set_.items():
            if len(value) > MAX_VALUE_LENGTH or not value.isprintable():
                raise InvalidPolicy(f"{name}: the value is too long or not printable text.")
        for _ in range(5):
            version, current = await self._load()
            drop = set(current) if reset_all else set(reset)
            merged = {k: v for k, v in current.items() if k in known and k not in drop}
            merged.update(set_)
            try:
                with_overrides(self.base, merged)
            except ConfigError as exc:
                raise InvalidPolicy(str(exc)) from exc
            resets = sorted(drop - set(set_))
            shown = {k: ("(hidden)" if k in UNSHOWN else v) for k, v in sorted(set_.items())}
            reply = await self._store.scripts.run(
                "policy_set",
                [keys.POLICY, keys.POLICY_VERSION, keys.SHARED_EVENTS],
                [
                    version,
                    admin,
                    msgspec.json.encode(dict(set_)),
                    msgspec.json.encode(resets) if resets else "[]",
                    msgspec.json.encode(shown) if shown else "{}",
                ],
            )
            if text(reply[0]) == "ok":
                await self.refresh()
                return
        raise PolicyConflict("Other policy changes kept landing; read the policy and retry.")

    def variables(self) -> list[Variable]:
        out = []
        for name in runtime_variables():
            if name in self.overrides:
                out.append(Variable(name, self.overrides[name], "runtime"))
            elif name in self.base.policy_env:
                out.append(Variable(name, self.base.policy_env[name], "environment"))
            else:
                out.append(Variable(name, None, "default"))
        return out
