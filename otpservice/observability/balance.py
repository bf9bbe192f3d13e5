"""Poll the provider balance in the background: a gauge, and a warning when it runs low."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from otpservice.domain.ports import Balance, SmsGateway
from otpservice.observability.metrics import Metrics

log = structlog.get_logger("otpservice.balance")


OnReading = Callable[[Balance], Awaitable[object]]


async def poll_once(
    gateway: SmsGateway,
    metrics: Metrics,
    low_balance_sms: int,
    on_reading: OnReading | None = None,
) -> bool:
    """One poll. Failures are counted and logged, never raised. ``on_reading`` gets each
    successful reading (the provider.balance_low event, events/alerts.py)."""
    started = time.perf_counter()
    try:
        balance = await gateway.balance()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any failure is one counted, logged line
        metrics.balance_poll_errors.inc()
        log.warning(
            "provider.balance_failed",
            error=getattr(exc, "code", type(exc).__name__),
            result_code=getattr(exc, "result_code", None),
        )
        return False
    finally:
        metrics.provider_call("balance", time.perf_counter() - started)
    metrics.balance(balance.local_sms, balance.international_tl, time.time())
    if balance.local_sms <= low_balance_sms:
        log.warning(
            "provider.low_balance",
            local_sms=balance.local_sms,
            threshold=low_balance_sms,
        )
    if on_reading is not None:
        try:
            await on_reading(balance)
        except Exception as exc:  # Redis down: the gauge and the log line still hold
            log.warning("provider.balance_event_failed", error=type(exc).__name__)
    return True


async def poll_forever(
    gateway: SmsGateway,
    metrics: Metrics,
    *,
    every_seconds: float,
    low_balance_sms: int,
    on_reading: OnReading | None = None,
) -> None:
    """Poll now, then every ``every_seconds``, until cancelled (lifespan shutdown)."""
    while True:
        await poll_once(gateway, metrics, low_balance_sms, on_reading)
        await asyncio.sleep(every_seconds)
