"""The admission controller's decisions, driven directly (no server): caps, sheds, and
the fair-rate controller that throttles only the client above its share."""

from __future__ import annotations

import asyncio
import time

import pytest

from otpservice.throttling.admission import Admission, AdmissionSettings, Shed


def _admission(**changes: float) -> Admission:
    base = {"client_in_flight": 2, "queue_seconds": 0.05, "lag_target_seconds": 0.02}
    base.update(changes)
    return Admission(AdmissionSettings(**base))  # type: ignore[arg-type]


async def test_a_client_over_its_in_flight_cap_is_shed_after_the_wait() -> None:
    admission = _admission()
    await admission.acquire("flood")
    await admission.acquire("flood")
    started = time.monotonic()
    with pytest.raises(Shed) as shed:
        await admission.acquire("flood")
    # Held as long as a turn could have taken: an instant re-send cannot become a flood.
    assert time.monotonic() - started >= 0.045
    assert shed.value.retry_after >= 1
    assert admission.shed_total == 1
    # Another client is not affected by the first one's cap.
    await admission.acquire("person")
    admission.release("person")


async def test_a_slot_freed_during_the_wait_admits_the_waiting_request() -> None:
    admission = _admission(queue_seconds=0.2)
    await admission.acquire("a")
    await admission.acquire("a")
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, admission.release, "a")
    await admission.acquire("a")  # no Shed: the slot came back within the wait


def _arrivals(admission: Admission, name: str, count: int, now: float) -> None:
    client = admission._clients.setdefault(name, Admission._client_type())
    for i in range(count):
        client.arrivals.append(now - 0.5 + i * (0.4 / max(count, 1)))


async def test_high_lag_throttles_only_the_client_above_its_share() -> None:
    admission = _admission(min_rate=5.0)
    await admission.acquire("seed")
    admission.release("seed")
    now = time.monotonic()
    _arrivals(admission, "flood", 400, now)
    _arrivals(admission, "person", 3, now)
    admission.adjust(lag=0.1, now=now)
    rates = admission.throttled()
    assert set(rates) == {"flood"}
    assert rates["flood"] == pytest.approx(200.0)  # half of the 400/s it just used
    admission.adjust(lag=0.1, now=now)
    assert admission.throttled()["flood"] == pytest.approx(100.0)


async def test_one_busy_client_alone_is_never_throttled() -> None:
    admission = _admission()
    await admission.acquire("only")
    admission.release("only")
    now = time.monotonic()
    _arrivals(admission, "only", 500, now)
    admission.adjust(lag=0.5, now=now)
    assert admission.throttled() == {}


async def test_the_limit_grows_back_and_is_lifted_when_the_lag_is_gone() -> None:
    admission = _admission(min_rate=5.0)
    await admission.acquire("seed")
    admission.release("seed")
    now = time.monotonic()
    _arrivals(admission, "flood", 40, now)
    _arrivals(admission, "person", 2, now)
    admission.adjust(lag=0.1, now=now)
    assert admission.throttled()["flood"] == pytest.approx(20.0)
    for _ in range(30):
        admission.adjust(lag=0.0, busy=0.0, now=now)
    assert "flood" not in admission.throttled()


async def test_a_throttled_client_waits_its_turn_or_is_shed() -> None:
    admission = _admission(client_in_flight=100, queue_seconds=0.05, min_rate=10.0)
    admission._clients["flood"] = Admission._client_type()
    admission._clients["flood"].rate = 10.0  # one start per 100 ms
    await admission.acquire("flood")  # the first one starts at once
    with pytest.raises(Shed):
        await admission.acquire("flood")  # the next turn is 100 ms away: more than the wait


async def test_a_busy_loop_without_lag_is_contention_too() -> None:
    """A flood of cheap refusals keeps the loop busy with little lag: still throttled."""
    admission = _admission(min_rate=5.0)
    await admission.acquire("seed")
    admission.release("seed")
    now = time.monotonic()
    _arrivals(admission, "flood", 300, now)
    _arrivals(admission, "person", 2, now)
    admission.adjust(lag=0.0, busy=0.3, now=now)
    assert admission.throttled() == {}
    admission.adjust(lag=0.0, busy=0.95, now=now)
    assert admission.throttled()["flood"] == pytest.approx(150.0)


async def test_starved_hash_threads_count_as_contention() -> None:
    admission = _admission(min_rate=5.0)
    now = time.monotonic()
    _arrivals(admission, "flood", 400, now)
    _arrivals(admission, "person", 3, now)
    # The loop looks calm (no lag, little busy time), but hashes took 3x their CPU time.
    admission.note_hash(0.09, 0.03)
    admission.adjust(lag=0.0, busy=0.1, now=now, stretch=admission._take_stretch())
    assert set(admission.throttled()) == {"flood"}
    # Hashes that got their cores: no contention, nothing more is held back.
    calm = _admission(min_rate=5.0)
    _arrivals(calm, "flood", 400, now)
    _arrivals(calm, "person", 3, now)
    calm.note_hash(0.031, 0.03)
    calm.adjust(lag=0.0, busy=0.1, now=now, stretch=calm._take_stretch())
    assert calm.throttled() == {}


async def test_a_held_back_flood_stays_the_heavy_client() -> None:
    """Every attempt counts: a flood held to its minimum rate still outweighs a person, so
    the person is never the one held back next."""
    admission = _admission(min_rate=5.0, queue_seconds=0.01, client_in_flight=1000)
    flood = admission._clients.setdefault("flood", Admission._client_type())
    flood.rate = 5.0  # already held back
    attempts = []
    for _ in range(40):  # mostly shed: over its rate
        attempts.append(asyncio.ensure_future(admission.acquire("flood")))
    await asyncio.gather(*attempts, return_exceptions=True)
    await admission.acquire("person")
    await admission.acquire("person")
    admission.adjust(lag=0.1, now=time.monotonic())
    assert "person" not in admission.throttled()
    assert admission.throttled()["flood"] <= 5.0


async def test_the_ticker_idles_with_one_client_and_wakes_for_a_second() -> None:
    """Nothing to arbitrate with one client: a tick a window, not 20 a second (each tick is a
    wake-up of the event loop); a second client's first request makes it tick fast at once."""
    admission = _admission(tick_seconds=0.05)
    admission.start()
    try:
        for _ in range(20):
            await admission.acquire("web")
            admission.release("web")
            await asyncio.sleep(0.025)
        assert admission.ticks == 0  # half a window: no tick at 20 Hz would have been this quiet
        await admission.acquire("mobile")
        admission.release("mobile")
        await asyncio.sleep(0.3)
        assert admission.ticks >= 4  # woken at once, then ticking at tick_seconds
    finally:
        await admission.stop()
