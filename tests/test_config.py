"""Configuration: defaults, validation that names the setting, and secrets kept out of errors."""

from __future__ import annotations

import hashlib

import pytest

from otpservice.config import ConfigError, load_settings

BASE = {
    "OTP_SECRET": "Qm7vX2pL9sKd4RtY8wNc3ZbF6hJe1UaG5oTi0rEy",
    "OTP_API_KEYS": "web=web-key-0123456789",
    "OTP_PROVIDER_API_KEY": "provider-key",
}


def test_defaults_follow_the_decisions() -> None:
    s = load_settings(BASE)
    assert s.code_source == "provider"
    assert s.code_length == 6
    assert s.code_ttl_seconds == 300
    assert s.max_checks == 5
    assert s.max_sends == 3
    assert s.resend_cooldown_seconds == 30
    assert s.allowed_countries == frozenset({"TR"})
    assert s.limits.phone_10m.limit == 3
    assert s.limits.phone_24h.limit == 10
    assert s.limits.ip_hour.limit == 10
    assert s.limits.ip_net_hour.limit == 30
    assert s.limits.client_minute.limit == 120
    assert s.limits.prefix_hour.limit == 20
    assert s.limits.global_minute.limit == 300
    assert s.limits.global_day.limit == 20_000
    assert s.limits.prefix_burst.numbers == 10
    assert s.limits.check_backoff.daily_failures == 100
    assert s.hash_preset.memory_kib >= 19_456 and s.hash_preset.time_cost >= 2


@pytest.mark.parametrize("missing", ["OTP_SECRET", "OTP_API_KEYS", "OTP_PROVIDER_API_KEY"])
def test_production_refuses_to_start_without_secrets(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTP_CODE_TTL_SECONDS", "601"),
        ("OTP_CODE_LENGTH", "7"),  # the provider's OTP endpoint sends 4, 5 or 6 digits
        ("OTP_CODE_SOURCE", "carrier-pigeon"),
        ("OTP_MAX_CHECKS", "many"),
        ("OTP_LIMIT_PHONE_10M", "-1"),
        ("OTP_HASH_PRESET", "weak"),
        ("OTP_LOG_FORMAT", "xml"),
        ("OTP_PREFIX_DENY", "+90abc"),
        ("OTP_LIMIT_PERIOD_SCALE", "0"),
        ("OTP_LIMIT_PERIOD_SCALE", "2"),
        ("OTP_LIMIT_PERIOD_SCALE", "fast"),
        ("OTP_LIMIT_PHONE_NET_24H", "-1"),
        ("OTP_LIMIT_PHONE_RESERVED_10M", "x"),
        ("OTP_LIMIT_IP_NET48_HOUR", "1.5"),
        ("OTP_TEST_NUMBER_DAILY_FAILURES", "0"),
    ],
)
def test_invalid_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})


def test_the_period_scale_scales_every_throttling_window() -> None:
    limits = load_settings({**BASE, "OTP_LIMIT_PERIOD_SCALE": "0.001"}).limits
    assert limits.ms(limits.phone_24h.period) == 86_400
    assert limits.ms(limits.check_backoff.cap_seconds) == 3600
    assert limits.ms(0) == 0 and limits.ms(0.0001) == 1  # never 0 unless asked for 0
    assert load_settings(BASE).limits.ms(600) == 600_000


def test_the_per_number_limits_change_at_runtime_but_the_period_scale_does_not() -> None:
    from otpservice.policy.variables import runtime_variables

    names = runtime_variables()
    assert {"OTP_LIMIT_PHONE_NET_24H", "OTP_LIMIT_PHONE_RESERVED_24H"} <= set(names)
    assert "OTP_LIMIT_PERIOD_SCALE" not in names


def test_local_codes_may_be_longer() -> None:
    s = load_settings({**BASE, "OTP_CODE_SOURCE": "local", "OTP_CODE_LENGTH": "8"})
    assert s.code_length == 8


def test_keys_may_be_given_as_sha256_and_are_never_in_errors() -> None:
    digest = hashlib.sha256(b"a-long-client-key-xyz").hexdigest()
    s = load_settings({**BASE, "OTP_API_KEYS": f"app=sha256:{digest}"})
    assert s.clients[0].digest.hex() == digest
    with pytest.raises(ConfigError) as err:
        load_settings({**BASE, "OTP_API_KEYS": "app=short-secret"})
    assert "short-secret" not in str(err.value)
    assert "OTP_API_KEYS" in str(err.value)


def test_test_numbers_belong_to_a_client_and_have_the_code_shape() -> None:
    s = load_settings({**BASE, "OTP_TEST_NUMBERS": "web:+905550000001=123456"})
    assert s.clients[0].test_numbers == {"+905550000001": "123456"}
    with pytest.raises(ConfigError, match="OTP_TEST_NUMBERS"):
        load_settings({**BASE, "OTP_TEST_NUMBERS": "web:+905550000001=12"})
    with pytest.raises(ConfigError, match="OTP_TEST_NUMBERS"):
        load_settings({**BASE, "OTP_TEST_NUMBERS": "nobody:+905550000001=123456"})


def test_development_needs_no_secrets() -> None:
    s = load_settings({}, development=True)
    assert s.development
