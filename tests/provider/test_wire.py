"""The provider's documented payloads (and type variants), parsed through the client.

Payload fixtures are served with ``httpx.MockTransport``: these tests pin the wire
format; behaviour is tested against the simulator elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from otpservice.domain.ports import Balance, Delivery, DeliveryState, Lang, SentSms
from otpservice.providers.turkeysms import (
    MobileInvalid,
    PerMinuteLimit,
    ProviderProtocolError,
    TurkeySmsClient,
    wire,
)

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "tsk_wire_test_key_ABCDEFG"


def serve(name: str, status: int = 200) -> TurkeySmsClient:
    body = (FIXTURES / name).read_bytes()
    media = "application/json" if name.endswith(".json") else "text/html"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": media})

    return TurkeySmsClient(
        api_key=KEY, sender_id="OTPSVC", transport=httpx.MockTransport(handler), retries=0
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("send_sms_doc.json", SentSms(sms_id="1000007721", parts=1)),
        ("send_sms_result_string.json", SentSms(sms_id="1000007721", parts=2)),
        ("send_sms_result_one.json", SentSms(sms_id="1000007721", parts=3)),
        ("send_sms_result_string_one.json", SentSms(sms_id="1000007721", parts=1)),
        ("send_sms_doc.print_r.txt", SentSms(sms_id="1000007721", parts=1)),
    ],
)
async def test_send_sms_payloads(fixture: str, expected: SentSms) -> None:
    async with serve(fixture) as client:
        assert await client.send_sms("905321234567", "hi", lang=Lang.EN) == expected


@pytest.mark.parametrize(
    ("fixture", "digits", "code"),
    [
        ("send_otp_doc.json", 6, "123456"),
        ("send_otp_leading_zero_string.json", 6, "012345"),
        ("send_otp_leading_zero_number.json", 6, "012345"),  # a number is padded
        ("send_otp_leading_zero_number.json", 5, "12345"),
    ],
)
async def test_send_otp_payloads(fixture: str, digits: int, code: str) -> None:
    async with serve(fixture) as client:
        sent = await client.send_otp("905321234567", digits=digits, lang=Lang.EN)
    assert sent.otp_code == code
    assert sent.sms_id == "1000007721"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "status_doc.json",
            Delivery(DeliveryState.DELIVERED, "Turkcell", "2021-01-01T13:10:00", "TS-1024"),
        ),
        (
            "status_not_delivered.json",
            Delivery(DeliveryState.NOT_DELIVERED, "Vodafone", "2021-01-01T13:10:00", "TS-1022"),
        ),
        (
            "status_out_of_coverage.json",
            Delivery(
                DeliveryState.OUT_OF_COVERAGE, "Turk Telekom", "2021-01-01T13:10:00", "TS-1023"
            ),
        ),
        (
            "status_received_text_only.json",
            Delivery(DeliveryState.DELIVERED, "Turkcell", "2021-01-01T13:10:00", None),
        ),
        ("status_pending.json", Delivery(DeliveryState.PENDING, None, "2021-01-01", None)),
    ],
)
async def test_status_payloads(fixture: str, expected: Delivery) -> None:
    async with serve(fixture) as client:
        assert await client.delivery("1000007721") == expected


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("balance_doc.json", Balance(1, 1.0)), ("balance_strings.json", Balance(250, 12.5))],
)
async def test_balance_payloads(fixture: str, expected: Balance) -> None:
    async with serve(fixture) as client:
        assert await client.balance() == expected


@pytest.mark.parametrize("status", [200, 403])
async def test_failure_decided_by_body_not_status(status: int) -> None:
    async with serve("failure_per_minute.json", status) as client:
        with pytest.raises(PerMinuteLimit) as caught:
            await client.send_sms("905321234567", "hi", lang=Lang.EN)
    assert caught.value.retry_after == 60
    async with serve("failure_invalid_mobile.json", 500) as client:
        with pytest.raises(MobileInvalid):
            await client.send_otp("905321234567", digits=4, lang=Lang.EN)


async def test_success_body_wins_over_error_status() -> None:
    async with serve("send_sms_doc.json", 500) as client:
        sent = await client.send_sms("905321234567", "hi", lang=Lang.EN)
    assert sent.sms_id == "1000007721"


async def test_unknown_code_is_a_protocol_error() -> None:
    async with serve("failure_unknown_code.json") as client:
        with pytest.raises(ProviderProtocolError) as caught:
            await client.send_sms("905321234567", "hi", lang=Lang.EN)
    assert caught.value.may_have_sent is True
    assert caught.value.result_code == "TS-1999"
    assert "TS-1999" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Bad gateway</body></html>",
        b'{"result": true, "sms_id": 12',
        b"[1, 2]",
        b'{"result": {"nested": true}}',
        b"plain text",
        b'{"result": true, "result_code": "TS-1024"}',  # success without sms_id
    ],
)
async def test_unreadable_bodies(body: bytes) -> None:
    client = TurkeySmsClient(
        api_key=KEY, transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body))
    )
    async with client:
        with pytest.raises(ProviderProtocolError) as caught:
            await client.send_sms("905321234567", "hi", lang=Lang.EN)
    assert caught.value.may_have_sent is True
    assert caught.value.status == 200


def test_every_fixture_decodes() -> None:
    for path in FIXTURES.iterdir():
        data = wire.decode_body(path.read_bytes())
        assert "result" in data
        if path.suffix == ".json":
            assert data == json.loads(path.read_text())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        (1, True),
        ("1", True),
        ("TRUE", True),
        (False, False),
        ("false", False),
        (0, False),
        ("0", False),
        ("", False),
        (None, None),
        (2, None),
        ("maybe", None),
    ],
)
def test_as_bool(value: Any, expected: bool | None) -> None:
    assert wire.as_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        ("012345", 6, "012345"),
        (12345, 6, "012345"),
        (123, 4, "0123"),
        (123456.0, 6, "123456"),
        ("0042", 4, "0042"),
        ("12a4", 4, None),
        (True, 4, None),
        (None, 4, None),
        (-5, 4, None),
    ],
)
def test_otp_code_text(value: Any, digits: int, expected: str | None) -> None:
    assert wire.otp_code_text(value, digits) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1000007721, "1000007721"), ("1000007721", "1000007721"), (1.0e9, "1000000000")],
)
def test_ids_as_text(value: Any, expected: str) -> None:
    assert wire.as_text(value) == expected


def test_codes_normalised() -> None:
    assert wire.as_code("ts-1024") == "TS-1024"
    assert wire.as_code(1024) == "TS-1024"
    assert wire.as_code("") is None


async def test_missing_result_uses_the_code() -> None:
    body = b'{"result_code": "TS-1024", "sms_id": 7, "number_of_sms": 1}'
    client = TurkeySmsClient(
        api_key=KEY, transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body))
    )
    async with client:
        assert (await client.send_sms("905321234567", "x", lang=Lang.EN)).sms_id == "7"
