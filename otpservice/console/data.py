"""What the console shows, read in-process from the service's own parts. The pages know only
these records; when a part changes its interface, this is the one file to follow it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import structlog

log = structlog.get_logger("otpservice.console")

BALANCE_CACHE_SECONDS = 60.0  # a page view is no reason to call the provider
BALANCE_TIMEOUT_SECONDS = 3.0


class BalanceRow(msgspec.Struct, frozen=True):
    account: str
    local_sms: int | None
    international_tl: float | None
    low: bool
    error: str | None = None


class BreakerRow(msgspec.Struct, frozen=True):
    provider: str
    state: str  # closed | open | half_open


class Overview(msgspec.Struct, frozen=True):
    balances: list[BalanceRow]
    breakers: list[BreakerRow]
    waiting: list[str]  # parts of the page whose data source has not landed


class ConsoleData:
    """One per app (on ``app.state``); holds the small caches the pages share."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._balances: tuple[float, list[BalanceRow]] | None = None
        self._balance_lock = asyncio.Lock()

    async def balances(self) -> list[BalanceRow]:
        async with self._balance_lock:
            now = time.monotonic()
            if self._balances and now - self._balances[0] < BALANCE_CACHE_SECONDS:
                return self._balances[1]
            rows = [await self._balance("provider", self.state.gateway)]
            self._balances = (now, rows)
            return rows

    async def _balance(self, account: str, gateway: Any) -> BalanceRow:
        low = self.state.settings.low_balance_sms
        try:
            async with asyncio.timeout(BALANCE_TIMEOUT_SECONDS):
                balance = await gateway.balance()
        except Exception as exc:  # shown on the page as the error's code, never its text
            code = str(getattr(exc, "code", type(exc).__name__))
            log.warning("console.balance_failed", account=account, error=code)
            return BalanceRow(account, None, None, low=False, error=code)
        return BalanceRow(
            account,
            balance.local_sms,
            balance.international_tl,
            low=balance.local_sms <= low,
        )

    async def overview(self) -> Overview:
        return Overview(
            balances=await self.balances(),
            breakers=[],
            waiting=["statistics (event log)", "breaker state (provider routes)"],
        )
