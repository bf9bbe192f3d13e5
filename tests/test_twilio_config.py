"""OTP_TWILIO_ACCOUNTS and OTP_TWILIO_SERVICES: parsing, defaults, and errors that name the
setting without repeating a token."""

from __future__ import annotations

import hashlib
import json

import pytest

from otpservice.config import ConfigError, load_settings

AC = "AC" + "1" * 32
AC2 = "AC" + "2" * 32
SK = "SK" + "3" * 32
VA = "VA" + "4" * 32
TOKEN = "token-" + "a" * 26
BASE = {
    "OTP_SECRET": "Qm7vX2pL9sKd4RtY8wNc3ZbF6hJe1UaG5oTi0rEy",
    "OTP_API_KEYS": "web=web-key-0123456789,shop=shop-key-0123456789",
    "OTP_PROVIDER_API_KEY": "provider-key",
    "OTP_TWILIO_ACCOUNTS": f"{AC}:{TOKEN}=web,{AC2}:sha256:{'ab' * 32}=shop,{SK}:{TOKEN}x={AC}",
}


def services(**spec: object) -> dict[str, str]:
    return {**BASE, "OTP_TWILIO_SERVICES": json.dumps({VA: {"account": AC, **spec}})}


def test_accounts_api_keys_and_service_defaults() -> None:
    s = load_settings(services())
    tw = s.twilio
    assert tw.accounts == {AC: "web", AC2: "shop"}
    by_sid = {c.sid: c for c in tw.credentials}
    assert by_sid[AC].digest == hashlib.sha256(TOKEN.encode()).digest()
    assert by_sid[AC2].digest == bytes.fromhex("ab" * 32)
    assert by_sid[SK].account == AC
    service = tw.services[VA]
    assert (service.code_length, service.ttl_seconds) == (s.code_length, s.code_ttl_seconds)
    assert service.purpose == VA.lower()


def test_service_overrides() -> None:
    spec = {"code_length": 4, "ttl_seconds": 120, "friendly_name": "Acme", "template": "{code}"}
    service = load_settings(services(**spec)).twilio.services[VA]
    assert (service.code_length, service.ttl_seconds, service.friendly_name) == (4, 120, "Acme")
    assert service.resend_cooldown_seconds is service.max_sends is service.phone_10m is None


def test_service_pacing() -> None:
    spec = {"resend_cooldown_seconds": 0, "max_sends": 5, "phone_10m": 5, "phone_24h": 0}
    service = load_settings(services(**spec)).twilio.services[VA]
    pacing = (service.resend_cooldown_seconds, service.max_sends, service.phone_10m)
    assert pacing == (0, 5, 5) and service.phone_24h == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTP_TWILIO_ACCOUNTS": f"{AC}:{TOKEN}=nobody"}, "client with no API key"),
        ({"OTP_TWILIO_ACCOUNTS": f"AC123:{TOKEN}=web"}, "32 lowercase hex"),
        ({"OTP_TWILIO_ACCOUNTS": f"{AC}={TOKEN}"}, "SID:token=target"),
        ({"OTP_TWILIO_ACCOUNTS": f"{SK}:{TOKEN}={AC}"}, "account not configured"),
        ({"OTP_TWILIO_ACCOUNTS": f"{AC}:tiny123=web"}, "shorter than 16"),
        ({"OTP_TWILIO_SERVICES": "not json"}, "JSON object"),
        ({"OTP_TWILIO_SERVICES": json.dumps({VA: {"account": AC, "x": 1}})}, "OTP_TWILIO_SERVICES"),
        ({"OTP_TWILIO_SERVICES": json.dumps({"VA1": {"account": AC}})}, "VA and 32"),
        ({"OTP_TWILIO_SERVICES": json.dumps({VA: {"account": "AC" + "9" * 32}})}, "account"),
    ],
)
def test_bad_entries_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings({**BASE, **env})
    assert TOKEN not in str(info.value) and "tiny123" not in str(info.value)


def test_code_length_follows_the_code_source() -> None:
    with pytest.raises(ConfigError, match="between 4 and 6 with OTP_CODE_SOURCE=provider"):
        load_settings(services(code_length=8))
    env = {**services(code_length=8), "OTP_CODE_SOURCE": "local"}
    assert load_settings(env).twilio.services[VA].code_length == 8


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"ttl_seconds": 601}, "ttl_seconds"),
        ({"friendly_name": "x" * 31}, "friendly_name"),
        ({"template": "no code here"}, "template"),
        ({"resend_cooldown_seconds": 3601}, "resend_cooldown_seconds must be between 0 and 3600"),
        ({"max_sends": 0}, "max_sends must be between 1 and 20"),
        ({"phone_10m": -1}, "phone_10m"),
        ({"phone_24h": "5"}, "OTP_TWILIO_SERVICES"),
    ],
)
def test_bad_service_fields(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(services(**spec))


def test_test_numbers_must_fit_the_service_code_length() -> None:
    env = {**services(code_length=4), "OTP_TEST_NUMBERS": "web:+905321234567=123456"}
    with pytest.raises(ConfigError, match="OTP_TEST_NUMBERS"):
        load_settings(env)
