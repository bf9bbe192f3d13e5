"""The body-read deadline's watchdog: it sleeps until the earliest deadline instead of
waking four times a second, and a body that started reading later with an earlier deadline
(it waited for admission first) is still cut off on time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from otpservice.api.edge import WATCH_SECONDS, BodyTimeout, HttpEdge

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": []}


async def _stalled() -> dict[str, Any]:
    await asyncio.sleep(3600)  # a client that never sends its body
    raise AssertionError("unreachable")


async def _send(_message: Any) -> None:
    return None


def _reader(wait_first: float, cut: dict[str, float], name: str) -> Any:
    async def app(_scope: Any, receive: Any, _send: Any) -> None:
        await asyncio.sleep(wait_first)  # e.g. admission's queue
        try:
            await receive()
        except BodyTimeout:
            cut[name] = time.monotonic()
            raise

    return app


async def test_an_earlier_deadline_read_later_is_still_cut_off_on_time() -> None:
    cut: dict[str, float] = {}
    early = HttpEdge(_reader(1.0, cut, "early"), body_timeout=1.5)
    late = HttpEdge(_reader(0.0, cut, "late"), body_timeout=1.5)
    started = time.monotonic()
    first = asyncio.ensure_future(early(dict(SCOPE), _stalled, _send))  # deadline 1.5
    await asyncio.sleep(0.5)
    second = asyncio.ensure_future(late(dict(SCOPE), _stalled, _send))  # deadline 2.0
    for task in (first, second):
        with pytest.raises(BodyTimeout):
            await task
    assert cut["early"] - started == pytest.approx(1.5, abs=0.12)
    assert cut["late"] - started == pytest.approx(2.0, abs=0.12)


async def test_the_watchdog_sleeps_until_the_deadline_while_bodies_keep_arriving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Steady traffic: bodies that arrive at once keep a reading in progress all the time;
    the watchdog wakes by the deadlines, not on a fixed period."""
    edge_app_calls = 0

    async def app(_scope: Any, receive: Any, _send: Any) -> None:
        nonlocal edge_app_calls
        await receive()
        edge_app_calls += 1

    async def body() -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    edge = HttpEdge(app, body_timeout=10.0)
    wakes = 0
    original = asyncio.sleep

    async def counting_sleep(delay: float, *args: Any) -> Any:
        nonlocal wakes
        if asyncio.current_task() is edge._watchdog:
            wakes += 1
        return await original(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", counting_sleep)
    for _ in range(100):  # 1 s of bodies, one after another
        await edge(dict(SCOPE), body, _send)
    monkeypatch.undo()
    assert edge_app_calls == 100
    # One sleep towards the first deadline (10 s away) where a fixed period would have
    # slept 1 / WATCH_SECONDS times a second.
    assert wakes <= 1 < 1 / WATCH_SECONDS
