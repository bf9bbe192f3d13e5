"""The overview's windows (the last hour, day and week) and its charts, summed from the
statistics' hourly counters (console/counters.py)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import msgspec

from otpservice.console.counters import DAY_MS, HOUR_MS

WINDOW_HOURS = {"hour": 1, "day": 24, "week": 168}
METRIC_LABELS = (("started", "started"), ("approved", "approved"), ("parts", "SMS parts"))


class WindowStats(msgspec.Struct, frozen=True):
    """One window's totals, the same numbers /v1/stats gives for it."""

    name: str  # hour | day | week
    started: int
    sent: int
    parts: int
    delivered: int
    approved: int
    refused: int
    conversion: float | None
    delivery_rate: float | None
    refusals: dict[str, int]


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def window_stats(
    name: str, first_hour: int, hourly: Counter[tuple[int, str]], refusals: Counter[tuple[int, str]]
) -> WindowStats:
    total: Counter[str] = Counter()
    for (at, metric), n in hourly.items():
        if at >= first_hour:
            total[metric] += n
    by_policy: Counter[str] = Counter()
    for (at, policy), n in refusals.items():
        if at >= first_hour:
            by_policy[policy] += n
    return WindowStats(
        name=name,
        started=total["started"],
        sent=total["sent"],
        parts=total["parts"],
        delivered=total["delivered"],
        approved=total["approved"],
        refused=sum(by_policy.values()),
        conversion=ratio(total["approved"], total["started"]),
        delivery_rate=ratio(total["delivered"], total["sent"]),
        refusals=dict(by_policy.most_common()),
    )


def _series(label: str, values: list[int]) -> dict[str, Any]:
    return {"label": label, "values": values}


def overview_charts(
    hour: int, hourly: Counter[tuple[int, str]], windows: list[WindowStats]
) -> dict[str, Any]:
    """Chart.js specs for the overview's canvases (console.js draws them)."""
    hours = [hour - i * HOUR_MS for i in range(23, -1, -1)]
    today = hour // DAY_MS * DAY_MS
    days = [today - i * DAY_MS for i in range(7, -1, -1)]

    def per_day(metric: str) -> list[int]:
        sums: Counter[int] = Counter()
        for (at, m), n in hourly.items():
            if m == metric:
                sums[at // DAY_MS * DAY_MS] += n
        return [sums[d] for d in days]

    def fmt(ms: int, pattern: str) -> str:
        return time.strftime(pattern, time.gmtime(ms / 1000))

    policies = sorted({p for w in windows for p in w.refusals})
    return {
        "day": {
            "type": "line",
            "labels": [fmt(h, "%H:00") for h in hours],
            "series": [
                _series(label, [hourly[(h, metric)] for h in hours])
                for metric, label in METRIC_LABELS
            ],
        },
        "week": {
            "type": "bar",
            "labels": [fmt(d, "%a %d %b") for d in days],
            "series": [_series(label, per_day(metric)) for metric, label in METRIC_LABELS],
        },
        "refusals": {
            "type": "bar",
            "labels": policies,
            "series": [
                _series(f"last {w.name}", [w.refusals.get(p, 0) for p in policies]) for w in windows
            ],
        },
    }
