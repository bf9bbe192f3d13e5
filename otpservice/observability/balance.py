"""Poll every provider account's balance in the background: gauges, a warning when one runs
low, and the router's low-balance set (a low provider moves to the end of its routes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from otpservice.domain.ports import Balance
from otpservice.observability.metrics import Metrics
from otpservice.providers.routing import Router

log = structlog.get_logger("otpservice.balance")


# (reading, provider name, its low-balance threshold)
OnReading = Callable[[Balance, str, int], Awaitable[object]]


async def poll_once(router: Router, metrics: Metrics, on_reading: OnReading | None = None) -> bool:
    """One poll of every account. Failures are counted and logged, never raised.
    ``on_reading`` gets each successful reading of each account (the provider.balance_low
    event, events/alerts.py)."""
    primary = router.primary_account()
    every_ok = True
    for provider in router.providers.values():
        if provider.kind != "turkeysms":
            continue
        try:
            balance = await router.poll_balance(provider)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure is one counted, logged line
            metrics.balance_poll_errors.inc()
            log.warning(
                "provider.balance_failed",
                provider=provider.name,
                error=getattr(exc, "code", type(exc).__name__),
                result_code=getattr(exc, "result_code", None),
            )
            every_ok = False
            continue
        if balance is None:
            continue
        if balance.local_sms <= provider.low_balance_sms:
            log.warning(
                "provider.low_balance",
                provider=provider.name,
                local_sms=balance.local_sms,
                threshold=provider.low_balance_sms,
            )
        if provider is primary:
            metrics.balance(balance.local_sms, balance.international_tl, time.time())
        if on_reading is not None:
            try:
                await on_reading(balance, provider.name, provider.low_balance_sms)
            except Exception as exc:  # Redis down: the gauge and the log line still hold
                log.warning("provider.balance_event_failed", error=type(exc).__name__)
    return every_ok


async def poll_forever(
    router: Router,
    metrics: Metrics,
    *,
    every_seconds: float,
    on_reading: OnReading | None = None,
) -> None:
    """Poll now, then every ``every_seconds``, until cancelled (lifespan shutdown)."""
    while True:
        await poll_once(router, metrics, on_reading)
        await asyncio.sleep(every_seconds)
