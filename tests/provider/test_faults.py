"""The fault switchboard seen through the client, and the client's retry policy."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

from otpservice.domain.ports import DeliveryState, Lang
from otpservice.errors import Fault, ProviderUnavailable
from otpservice.providers.turkeysms import (
    ProviderProtocolError,
    ProviderTimeouts,
    ProviderUnreachable,
    TurkeySmsClient,
)
from otpservice.simulator import SimulatorState, create_simulator
from tests.support.simulator_server import SimulatorUrl

from .conftest import API_KEY, FAST, MOBILE, SENDER, Sim, asgi, base_state

BODY_FAULTS = ["http_500", "http_502", "http_503", "html", "malformed_json", "reset"]


async def set_fault(sim: Sim, mode: str, **extra: Any) -> None:
    async with sim.admin() as admin:
        r = await admin.post("/_admin/faults", json={"mode": mode, **extra})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("mode", BODY_FAULTS)
@pytest.mark.parametrize("operation", ["otp", "sms"])
async def test_send_faults_are_protocol_errors_that_may_have_sent(
    sim: Sim, client: TurkeySmsClient, mode: str, operation: str
) -> None:
    await set_fault(sim, mode)
    before = sim.state.provider_requests
    send = (
        client.send_otp(MOBILE, digits=6, lang=Lang.EN)
        if operation == "otp"
        else client.send_sms(MOBILE, "hello", lang=Lang.EN)
    )
    with pytest.raises(ProviderProtocolError) as caught:
        await send
    error = caught.value
    assert error.may_have_sent is True
    assert error.fault is Fault.PROVIDER
    assert error.retryable
    assert isinstance(error, ProviderUnavailable)
    assert sim.state.provider_requests == before + 1  # a send is never repeated
    if mode.startswith("http_"):
        assert error.status == int(mode[5:])
    # malformed/reset answers come after the provider processed the request
    assert len(sim.state.inbox) == (1 if mode in ("malformed_json", "reset") else 0)


async def test_fault_times_counts_down(sim: Sim, client: TurkeySmsClient) -> None:
    await set_fault(sim, "http_503", times=1)
    with pytest.raises(ProviderProtocolError):
        await client.send_sms(MOBILE, "first", lang=Lang.EN)
    sent = await client.send_sms(MOBILE, "second", lang=Lang.EN)
    assert sent.sms_id
    assert sim.state.faults.mode == "none"


async def test_hang_times_out_within_the_total_budget(sim: Sim) -> None:
    await set_fault(sim, "hang")
    timeouts = ProviderTimeouts(connect=0.3, read=0.3, total=0.6)
    before = sim.state.provider_requests
    async with sim.client(timeouts=timeouts) as client:
        started = time.monotonic()
        with pytest.raises(ProviderProtocolError) as caught:
            await client.send_otp(MOBILE, digits=6, lang=Lang.EN)
        elapsed = time.monotonic() - started
    assert elapsed < timeouts.total + 0.3
    assert caught.value.may_have_sent is True
    assert sim.state.provider_requests == before + 1  # a timed-out send is not retried


async def test_latency_delays_the_normal_answer(sim: Sim, client: TurkeySmsClient) -> None:
    await set_fault(sim, "latency", latency_ms=150, times=1)
    started = time.monotonic()
    sent = await client.send_sms(MOBILE, "slow", lang=Lang.EN)
    assert time.monotonic() - started >= 0.14
    assert sent.parts == 1


@pytest.mark.parametrize("mode", BODY_FAULTS)
async def test_status_and_balance_retry_transient_faults(
    sim: Sim, client: TurkeySmsClient, mode: str
) -> None:
    sent = await client.send_sms(MOBILE, "hello", lang=Lang.EN)
    await set_fault(sim, mode, times=2)
    before = sim.state.provider_requests
    if mode in ("malformed_json",):
        # a truncated JSON body is not 5xx: a status/balance call reports it at once
        with pytest.raises(ProviderProtocolError) as caught:
            await client.balance()
        assert caught.value.may_have_sent is False
        assert sim.state.provider_requests == before + 1
        return
    if mode == "html":  # a 200 HTML page is not retried either
        with pytest.raises(ProviderProtocolError):
            await client.delivery(sent.sms_id)
        return
    delivery = await client.delivery(sent.sms_id)
    assert delivery.state is DeliveryState.DELIVERED
    assert sim.state.provider_requests == before + 3  # two faults, then the answer


async def test_status_gives_up_after_retries(sim: Sim) -> None:
    await set_fault(sim, "http_502")
    before = sim.state.provider_requests
    async with sim.client(retries=1) as client:
        with pytest.raises(ProviderProtocolError) as caught:
            await client.balance()
    assert caught.value.may_have_sent is False
    assert caught.value.status == 502
    assert sim.state.provider_requests == before + 2


async def test_status_retries_a_read_timeout_over_a_socket(
    socket_simulator: tuple[SimulatorState, SimulatorUrl],
) -> None:
    # Only a real socket has a read timeout; in-process there is just the total deadline.
    state, url = socket_simulator
    state.reset()
    sim = Sim("socket", state, url.api, url.root)
    await set_fault(sim, "hang", times=1)
    timeouts = ProviderTimeouts(connect=0.5, read=0.3, total=2.0)
    async with sim.client(timeouts=timeouts) as client:
        balance = await client.balance()
    assert balance.local_sms == 10_000


# -- connection-level retries, with counting transports ------------------------------------


class Counting(httpx.AsyncBaseTransport):
    """Counts calls; optionally raises the given errors first, then delegates."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *errors: Exception) -> None:
        self.inner = inner
        self.errors = list(errors)
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return await self.inner.handle_async_request(request)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("retries", [0, 2])
async def test_connect_error_is_retried_then_reported_as_never_sent(retries: int) -> None:
    counting = Counting(httpx.AsyncHTTPTransport())
    url = f"http://127.0.0.1:{closed_port()}/api/v3"
    async with TurkeySmsClient(
        api_key=API_KEY,
        base_url=url,
        sender_id=SENDER,
        timeouts=FAST,
        transport=counting,
        retries=retries,
    ) as client:
        with pytest.raises(ProviderUnreachable) as caught:
            await client.send_sms(MOBILE, "hello", lang=Lang.EN)
    assert counting.calls == retries + 1 == caught.value.attempts
    assert caught.value.may_have_sent is False
    assert isinstance(caught.value, ProviderUnavailable)


async def test_send_succeeds_after_a_connect_error() -> None:
    state = base_state()
    counting = Counting(asgi(create_simulator(state)), httpx.ConnectError("refused"))
    async with TurkeySmsClient(
        api_key=API_KEY, base_url="http://sim/api/v3", sender_id=SENDER, transport=counting
    ) as client:
        sent = await client.send_otp(MOBILE, digits=6, lang=Lang.EN)
    assert sent.otp_code
    assert counting.calls == 2
    assert len(state.inbox) == 1


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset"), httpx.WriteError("pipe")],
)
async def test_send_is_not_retried_after_the_request_may_have_left(error: Exception) -> None:
    state = base_state()
    counting = Counting(asgi(create_simulator(state)), error)
    async with TurkeySmsClient(
        api_key=API_KEY, base_url="http://sim/api/v3", sender_id=SENDER, transport=counting
    ) as client:
        with pytest.raises(ProviderProtocolError) as caught:
            await client.send_sms(MOBILE, "hello", lang=Lang.EN)
    assert counting.calls == 1
    assert caught.value.may_have_sent is True


async def test_balance_is_retried_after_a_read_timeout() -> None:
    state = base_state()
    counting = Counting(asgi(create_simulator(state)), httpx.ReadTimeout("x"))
    async with TurkeySmsClient(
        api_key=API_KEY, base_url="http://sim/api/v3", transport=counting
    ) as client:
        assert (await client.balance()).local_sms == 10_000
    assert counting.calls == 2


async def test_total_deadline_covers_connect_retries() -> None:
    """Backoff sleeping after connect errors ends at the total deadline, never-sent."""

    class AlwaysRefused(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

    timeouts = ProviderTimeouts(connect=0.1, read=0.1, total=0.05)
    async with TurkeySmsClient(
        api_key=API_KEY, transport=AlwaysRefused(), timeouts=timeouts, retries=50
    ) as client:
        with pytest.raises(ProviderUnavailable) as caught:
            await client.send_sms(MOBILE, "hello", lang=Lang.EN)
    assert caught.value.may_have_sent is False
