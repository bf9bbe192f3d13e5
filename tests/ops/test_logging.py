"""Redaction, phone masking, request ids and formats of the structured logs (unit level)."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from otpservice.observability.logging import REDACTED, configure_logging, redact, scrub
from otpservice.observability.requests import request_id_of


@pytest.fixture(autouse=True)
def _reset_logging() -> None:
    configure_logging("json", "INFO")


def test_secret_named_fields_are_replaced() -> None:
    event = redact(None, "info", {"code": "123456", "otp_code": "654321", "text": "Kod 1234"})
    assert event == {"code": REDACTED, "otp_code": REDACTED, "text": REDACTED}


def test_registered_secret_values_are_scrubbed_anywhere() -> None:
    configure_logging("json", "INFO", secrets=["provider-key-abcdef", b"s" * 40])
    line = scrub("GET /sms?user=x&key=provider-key-abcdef failed; secret " + "s" * 40)
    assert "provider-key-abcdef" not in line
    assert "s" * 40 not in line


def test_api_key_in_a_url_is_scrubbed() -> None:
    assert scrub("https://p/api/v3/otp?api_key=K3Y&mobile=1") == (
        f"https://p/api/v3/otp?api_key={REDACTED}&mobile=1"
    )


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+905321234567", "+90532123****"),
        ("to 905321234567 now", "to 90532123**** now"),
        ("mobile=905321234567&x=1", "mobile=90532123****&x=1"),
    ],
)
def test_phone_numbers_in_strings_are_masked(raw: str, masked: str) -> None:
    assert scrub(raw) == masked


def test_hex_ids_and_short_numbers_are_left_alone() -> None:
    vid = "8a510ed889f719d0cd205bf14da396bb0cc0170f88c94139565059874275d70a"
    assert scrub(vid) == vid
    assert scrub("took 1234 ms") == "took 1234 ms"


def test_library_records_go_through_the_same_redaction(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "DEBUG", secrets=["provider-key-abcdef"])
    logging.getLogger("otpservice.test").warning(
        "calling https://p/api?api_key=provider-key-abcdef for +905321234567"
    )
    line = capfd.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "provider-key-abcdef" not in line
    assert "+90532123****" in record["event"]
    # httpx logs full request URLs at INFO: kept at WARNING whatever the level.
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


def test_console_format_is_human_readable(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("console", "INFO")
    structlog.get_logger("t").info("verification.sent", phone="+905321234567")
    out = capfd.readouterr().err
    assert "verification.sent" in out
    assert "+90532123****" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.strip().splitlines()[-1])


def test_request_id_from_header_when_sane_else_generated() -> None:
    assert request_id_of({"headers": [(b"x-request-id", b"req-42.a:b_c")]}) == "req-42.a:b_c"
    for bad in (b"has space", b"x" * 129, b"\xff\xfe", b"a\nb"):
        generated = request_id_of({"headers": [(b"x-request-id", bad)]})
        assert len(generated) == 32
        assert int(generated, 16) >= 0
    assert len(request_id_of({"headers": []})) == 32
