"""The API key, OTP codes and message texts never reach logs, errors or return values."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import structlog

from otpservice.domain.ports import Lang
from otpservice.providers.turkeysms import (
    ProviderTimeouts,
    Redactor,
    TurkeySmsClient,
    install_log_redaction,
    mask_msisdn,
)
from otpservice.simulator import Faults

from .conftest import API_KEY, MOBILE, Sim

CODES = ["918273", "564738", "647382"]
TEXT_POST = "Login code 402917 secret-text-POST"
TEXT_GET = "Login code 730188 secret-text-GET"
SECRETS = [API_KEY, *CODES, TEXT_POST, TEXT_GET, "402917", "730188"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


async def exercise(sim: Sim) -> tuple[list[Any], list[BaseException]]:
    """Every operation, successes and failures, GET and POST; returns results and errors."""
    results: list[Any] = []
    errors: list[BaseException] = []
    sim.state.next_otp_codes.extend(CODES)

    async def attempt(make: Callable[[], Awaitable[Any]]) -> None:
        try:
            results.append(await make())
        except Exception as exc:  # collected for inspection
            errors.append(exc)

    short = ProviderTimeouts(connect=0.3, read=0.3, total=0.5)
    async with (
        sim.client(timeouts=short) as c,
        sim.client(timeouts=short, use_get_for_sms=True) as g,
    ):
        sent = await c.send_otp(MOBILE, digits=6, lang=Lang.EN)
        results.append(sent)
        await attempt(lambda: c.send_sms(MOBILE, TEXT_POST, lang=Lang.EN))
        await attempt(lambda: g.send_sms(MOBILE, TEXT_GET, lang=Lang.TR))
        await attempt(lambda: c.delivery(sent.sms_id))
        await attempt(c.balance)
        await attempt(lambda: c.delivery("nope"))
        await attempt(lambda: c.send_sms("123", TEXT_POST, lang=Lang.EN))
        await attempt(lambda: g.send_sms("", TEXT_GET, lang=Lang.EN))
        for mode in ("malformed_json", "reset", "http_502", "html", "hang"):
            sim.state.faults = Faults(mode, times=1 if mode != "hang" else None)
            await attempt(lambda: c.send_otp(MOBILE, digits=6, lang=Lang.EN))
            sim.state.faults = Faults(mode, times=1 if mode != "hang" else None)
            await attempt(lambda: g.send_sms(MOBILE, TEXT_GET, lang=Lang.EN))
            sim.state.faults = Faults(mode, times=1 if mode != "hang" else None)
            await attempt(lambda: c.send_sms(MOBILE, TEXT_POST, lang=Lang.EN))
            sim.state.faults = Faults()
    sim.account.per_minute_limit = 0
    async with sim.client() as c:
        await attempt(lambda: c.send_otp(MOBILE, digits=6, lang=Lang.EN))
    async with sim.client(api_key=API_KEY + "x") as c:
        await attempt(c.balance)
    dead = f"http://127.0.0.1:{closed_port()}/api/v3"
    async with (
        TurkeySmsClient(api_key=API_KEY, base_url=dead, retries=1) as c,
        TurkeySmsClient(api_key=API_KEY, base_url=dead, retries=0, use_get_for_sms=True) as g,
    ):
        await attempt(lambda: c.send_otp(MOBILE, digits=6, lang=Lang.EN))
        await attempt(lambda: g.send_sms(MOBILE, TEXT_GET, lang=Lang.EN))
        await attempt(c.balance)
    return results, errors


async def test_no_secret_in_logs_errors_or_results(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    with structlog.testing.capture_logs() as events:
        results, errors = await exercise(sim)

    assert len(errors) >= 15
    assert any("otp_code" in str(e) for e in errors), "the malformed-JSON snippet is kept"
    # the OTP code did reach the inbox: the secrets are real values, not dummies
    assert any(CODES[0] in m.text for m in sim.state.inbox)

    http_records = [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    assert any("otp_get.php" in r.getMessage() for r in http_records)
    assert any("get.php" in r.getMessage() and "title=" in r.getMessage() for r in http_records)
    logged = [caplog.text]
    for record in caplog.records:
        logged += [record.getMessage(), repr(record.args), str(record.msg)]
    provider_events = [e for e in events if e.get("event") == "provider.call"]
    assert len(provider_events) >= 20
    logged += [repr(e) for e in events]
    raised = [s for e in errors for x in chain(e) for s in (str(x), repr(x), repr(x.args))]
    returned = [repr(r) for r in results]

    for secret in SECRETS:
        for where, texts in (("logs", logged), ("errors", raised), ("results", returned)):
            if where == "results" and secret in CODES:
                continue  # send_otp returns its code: that is its purpose
            leaks = [t for t in texts if secret in t]
            assert not leaks, f"{secret!r} leaked into {where}: {leaks[:2]}"

    for event in provider_events:
        assert {"operation", "result_code", "http_status", "duration_ms", "parts"} <= set(event)
        if "mobile" in event:
            assert event["mobile"] in ("90532123****", "***", "")
    assert not any(MOBILE in t for t in logged if "provider.call" in t)


def test_httpx_log_filter_redacts_query_secrets(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.INFO, logger="httpx")
    url = httpx.URL(
        "https://x/api/v3/get/get.php", params={"api_key": API_KEY, "text": "code 1234"}
    )
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET", url, "HTTP/1.1 200 OK")
    [record] = [r for r in caplog.records if r.name == "httpx"]
    assert API_KEY not in record.getMessage()
    assert "1234" not in record.getMessage()
    assert "api_key=***" in record.getMessage()


@pytest.mark.parametrize(
    "body",
    [
        '{"api_key": "SEKRETKEY1", "otp_code": "123456", "text": "hi there"}',
        "api_key=SEKRETKEY1&otp_code=123456&text=hi%20there",
        "Array\n(\n    [api_key] => SEKRETKEY1\n    [otp_code] => 123456\n"
        "    [text] => hi there\n)",
        '{"otp_code": 123456, "api_key": "SEKRETKEY1"',
    ],
)
def test_redactor_removes_fields_by_name_and_literal(body: str) -> None:
    redacted = Redactor(["SEKRETKEY1"])(body)
    for secret in ("SEKRETKEY1", "123456", "hi there", "hi%20there"):
        assert secret not in redacted


def test_redactor_removes_literal_secrets_anywhere() -> None:
    assert "SEKRETKEY1" not in Redactor(["SEKRETKEY1"])("weird echo SEKRETKEY1 here")


@pytest.mark.parametrize(
    ("msisdn", "masked"),
    [
        ("905321234567", "90532123****"),
        ("447700900123", "44770090****"),
        ("12025550123", "1202555****"),
        ("9053", "****"),
        ("90abc", "*****"),
        ("", ""),
    ],
)
def test_mobile_masking(msisdn: str, masked: str) -> None:
    assert mask_msisdn(msisdn) == masked


async def test_client_repr_has_no_key() -> None:
    client = TurkeySmsClient(api_key=API_KEY)
    await client.aclose()
    assert API_KEY not in repr(client)
    assert API_KEY not in str(vars(client).get("_base"))
