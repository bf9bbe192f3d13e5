"""Operator alerts that are events of the shared stream, emitted once per crossing."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError

from otpservice.domain.ports import Balance
from otpservice.errors import StorageUnavailable
from otpservice.events.scripts import register
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

BALANCE_STATE = f"{keys.SHARED}:balance"


class BalanceAlerts:
    """provider.balance_low into otp:{g}:ev when a reading falls to or below the threshold,
    once (whichever instance reads it first), and again only after it was above."""

    def __init__(self, redis: AnyRedis, low_balance_sms: int) -> None:
        self.redis = redis
        self.low_balance_sms = low_balance_sms
        self._scripts = register(redis, "balance_low")

    async def reading(
        self, balance: Balance, provider: str = "primary", threshold: int | None = None
    ) -> bool:
        """Record one poll's reading of ``provider``'s account (each has its own crossing
        state); True when this call emitted the event."""
        state = BALANCE_STATE if provider == "primary" else f"{BALANCE_STATE}:{provider}"
        low = self.low_balance_sms if threshold is None else threshold
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                emitted = await self._scripts["balance_low"](
                    keys=[state, keys.SHARED_EVENTS],
                    args=[balance.local_sms, low, balance.international_tl, provider],
                )
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc
        return bool(emitted)
