"""Days in UTC, as the per-day counter keys and their retention count them."""

from __future__ import annotations

import functools
import time

DAY_MS = 86_400_000


def utc_day(ms: int) -> str:
    """YYYYMMDD of a time in epoch ms, UTC: the suffix of the per-day counter keys."""
    return _utc_day_of(ms // DAY_MS)


@functools.lru_cache(maxsize=8)  # every request asks for today's
def _utc_day_of(day: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(day * 86_400))


def refusals_ttl_ms(history_ms: int) -> int:
    """Today's refusal counts live until the end of the day plus the history's retention."""
    now = int(time.time() * 1000)
    return now // DAY_MS * DAY_MS + DAY_MS + history_ms - now
