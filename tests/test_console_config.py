"""The console's settings: off in production unless asked for, and only with an admin key."""

from __future__ import annotations

import pytest

from otpservice.config import ConfigError, load_settings

BASE = {
    "OTP_SECRET": "Qm7vX2pL9sKd4RtY8wNc3ZbF6hJe1UaG5oTi0rEy",
    "OTP_API_KEYS": "web=web-key-0123456789",
    "OTP_PROVIDER_API_KEY": "provider-key",
}
ADMIN = {"OTP_ADMIN_API_KEYS": "ops=admin-key-0123456789"}


def test_the_console_is_off_in_production_unless_enabled() -> None:
    assert load_settings({**BASE, **ADMIN}).console is False
    assert load_settings({**BASE, **ADMIN, "OTP_CONSOLE": "true"}).console is True


def test_development_has_the_console_when_there_is_an_admin_key() -> None:
    assert load_settings({**BASE, **ADMIN}, development=True).console is True
    assert load_settings({}, development=True).console is False


def test_enabling_the_console_without_an_admin_key_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="OTP_CONSOLE") as caught:
        load_settings({**BASE, "OTP_CONSOLE": "1"})
    assert "web-key" not in str(caught.value)


@pytest.mark.parametrize("value", ["60", "0", "x", str(8 * 86_400)])
def test_a_session_length_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="OTP_CONSOLE_SESSION_SECONDS"):
        load_settings({**BASE, **ADMIN, "OTP_CONSOLE_SESSION_SECONDS": value})
