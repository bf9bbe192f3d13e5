"""The guard's Redis side outside the send: approvals as conversions, and the admin's view
of blocks. The blocking decisions themselves are in storage/lua/guard.lua."""

from __future__ import annotations

from typing import Any

import msgspec

from otpservice.domain.ports import ScriptCall
from otpservice.guard.settings import GuardSettings
from otpservice.storage import keys
from otpservice.storage.record import text
from otpservice.storage.redis_store import RedisStore
from otpservice.storage.scripts import AnyRedis


class Block(msgspec.Struct, frozen=True):
    """An active block and the evidence it was decided on."""

    scope: str  # "prefix" | "country"
    subject: str  # the prefix's digits or the ISO country
    expires_in_seconds: float
    evidence: dict[str, Any]


class GuardStore:
    def __init__(self, store: RedisStore, guard: GuardSettings) -> None:
        self._store = store
        self.guard = guard

    def apply_policy(self, guard: GuardSettings) -> None:
        self.guard = guard

    def approval_write(self, tag: str, country: str, prefix: str) -> ScriptCall:
        """The number converted: the store makes this write beside the approval (one round
        trip on a single node). A right code proves the SMS reached the phone, so it counts
        even when the approval itself loses a race."""
        g = self.guard
        return ScriptCall(
            "guard_approve",
            [
                keys.guard_prefix("s", prefix),
                keys.guard_prefix("a", prefix),
                keys.guard_country("s", country),
                keys.guard_country("a", country),
                keys.returning(tag),
            ],
            [tag, g.returning_ms, g.window_ms],
        )

    async def record_approval(self, tag: str, country: str, prefix: str) -> None:
        """The same write on its own."""
        await self._store.scripts.run(*self.approval_write(tag, country, prefix))

    async def blocks(self) -> list[Block]:
        redis: AnyRedis = self._store.redis
        async with self._store.scripts.bounded("Storage is unavailable."):
            now_s, now_us = await redis.time()
            now_ms = int(now_s) * 1000 + int(now_us) // 1000
            members = await redis.zrangebyscore(keys.GUARD_BLOCKS, now_ms, "+inf")
            out: list[Block] = []
            for raw in members:
                member = text(raw)
                scope, _, subject = member.partition(":")
                key = (
                    keys.guard_prefix("b", subject)
                    if scope == "p"
                    else keys.guard_country("b", subject)
                )
                value, ttl = await redis.get(key), await redis.pttl(key)
                if value is None or int(ttl) <= 0:
                    continue
                out.append(
                    Block(
                        scope="prefix" if scope == "p" else "country",
                        subject=subject,
                        expires_in_seconds=int(ttl) / 1000,
                        evidence=msgspec.json.decode(value),
                    )
                )
        return out

    async def unblock(self, scope: str, subject: str, admin: str, *, forget: bool) -> bool:
        """Lift a block (an event names the admin key's name); False if none was active."""
        if scope == "prefix":
            block, strikes = keys.guard_prefix("b", subject), keys.guard_prefix("k", subject)
            flag, member, cc, px = keys.guard_prefix("m", subject), f"p:{subject}", "", subject
        else:
            block, strikes = keys.guard_country("b", subject), keys.guard_country("k", subject)
            flag, member, cc, px = keys.guard_country("x", subject), f"c:{subject}", subject, ""
        reply = await self._store.scripts.run(
            "guard_unblock",
            [block, strikes, keys.GUARD_BLOCKS, keys.SHARED_EVENTS, flag],
            [member, admin, cc, px, "1" if forget else "0"],
        )
        return reply is not None and reply is not False
