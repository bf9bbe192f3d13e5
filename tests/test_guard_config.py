"""The guard's and the shared budgets' settings: defaults, and errors that name the variable
and never its value (the same code validates runtime changes)."""

from __future__ import annotations

import pytest

from otpservice.config import ConfigError, load_settings
from otpservice.guard.settings import GuardMode
from otpservice.policy.variables import runtime_variables, with_overrides
from otpservice.throttling.policies import Quota

BASE = {
    "OTP_SECRET": "Hq3Zr8Lw1Vt6Nk0Pb5Xm9Cs2Fd7Jg4Ye",
    "OTP_API_KEYS": "web=web-key-0123456789,app=app-key-0123456789",
    "OTP_PROVIDER_API_KEY": "provider-key",
}


def test_defaults() -> None:
    s = load_settings(BASE)
    g = s.guard
    assert g.mode is GuardMode.ENFORCE
    assert (g.window_ms, g.settle_ms) == (86_400_000, 180_000)
    assert (g.min_sends, g.min_conversion) == (5, 0.1)
    assert (g.block_ms, g.escalation, g.block_max_ms) == (3_600_000, 4, 86_400_000)
    assert s.shares.reserved_share == 0.2 and s.shares.share_of("web") == 1.0
    assert s.shares.key_budgets == {}


def test_settings_parse() -> None:
    s = load_settings(
        {
            **BASE,
            "OTP_GUARD_MODE": "Monitor",
            "OTP_GUARD_SAFE_NUMBERS": "05321234567",
            "OTP_GUARD_SAFE_PREFIXES": "+90532123",
            "OTP_GUARD_BLOCK_COUNTRIES": "tr",
            "OTP_CLIENT_BUDGET_SHARES": "web=0.5,*=0.25",
            "OTP_RATE_LIMIT_KEYS": '{"user_id": [{"limit": 5, "period": 3600}]}',
        }
    )
    assert s.guard.mode is GuardMode.MONITOR
    assert s.guard.safe_numbers == frozenset({"+905321234567"})
    assert s.guard.is_safe("905321239999") and not s.guard.is_safe("905331239999")
    assert s.guard.block_countries == frozenset({"TR"})
    assert s.shares.share_of("web") == 0.5 and s.shares.share_of("app") == 0.25
    assert s.shares.key_budgets == {"user_id": (Quota(5, 3600),)}
    assert s.policy_env["OTP_GUARD_MODE"] == "Monitor"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTP_GUARD_MODE", "sometimes-9871"),
        ("OTP_GUARD_MIN_CONVERSION", "1.5"),
        ("OTP_GUARD_SETTLE_SECONDS", "999999"),
        ("OTP_GUARD_SAFE_NUMBERS", "+90212987123"),
        ("OTP_GUARD_BLOCK_COUNTRIES", "TUR9871"),
        ("OTP_CLIENT_BUDGET_SHARES", "nobody=0.5"),
        ("OTP_CLIENT_BUDGET_SHARES", "web=0"),
        ("OTP_BUDGET_RESERVED_SHARE", "1"),
        ("OTP_RATE_LIMIT_KEYS", '{"User ID": [{"limit": 1, "period": 60}]}'),
        ("OTP_RATE_LIMIT_KEYS", '{"user_id": [{"limit": 0, "period": 9871}]}'),
        ("OTP_RATE_LIMIT_KEYS", "not json 9871"),
    ],
)
def test_bad_values_name_the_variable_not_the_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, name: value})
    assert name in str(caught.value)
    assert "9871" not in str(caught.value)


def test_runtime_overrides_validate_like_the_environment() -> None:
    base = load_settings({**BASE, "OTP_LIMIT_COUNTRY_HOUR": "500"})
    changed = with_overrides(base, {"OTP_GUARD_MODE": "off", "OTP_LIMIT_GLOBAL_DAY": "7"})
    assert changed.guard.mode is GuardMode.OFF
    assert changed.limits.global_day.limit == 7
    assert changed.limits.country_hour.limit == 500  # the environment stays the base
    with pytest.raises(ConfigError, match="OTP_LIMIT_GLOBAL_DAY"):
        with_overrides(base, {"OTP_LIMIT_GLOBAL_DAY": "-3"})
    names = set(runtime_variables())
    assert {"OTP_GUARD_MODE", "OTP_LIMIT_PHONE_10M", "OTP_ALLOWED_COUNTRIES"} <= names
    assert not names & {"OTP_SECRET", "OTP_API_KEYS", "OTP_REDIS_URL", "OTP_PREFIX_DROP_DIGITS"}
