"""OTP_WEBHOOKS and the tracking settings: validated at start-up, errors name the setting and
never a URL or a secret."""

from __future__ import annotations

import json

import pytest

from otpservice.config import ConfigError, load_settings
from otpservice.events.signing import new_secret

BASE = {
    "OTP_SECRET": "Qm7vX2pL9sKd4RtY8wNc3ZbF6hJe1UaG5oTi0rEy",
    "OTP_API_KEYS": "web=web-key-0123456789",
    "OTP_PROVIDER_API_KEY": "provider-key",
}
SECRET = new_secret()


def hooks(config: object, **extra: str) -> dict[str, str]:
    return {**BASE, "OTP_WEBHOOKS": json.dumps(config), **extra}


def test_a_valid_configuration_loads_with_stable_ids() -> None:
    one = {"url": "https://hooks.example.com/otp", "secret": SECRET, "events": ["delivery.*"]}
    s = load_settings(hooks({"web": [one], "*": [{**one, "url": "https://ops.example.com/h"}]}))
    web, ops = s.webhooks.endpoints
    assert (web.client, web.events, ops.client) == ("web", ("delivery.*",), "*")
    assert web.id.startswith("we_") and web.id != ops.id
    assert web.id == load_settings(hooks({"web": [one]})).webhooks.endpoints[0].id
    assert s.webhooks.retry_schedule == (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
    assert s.webhooks.timeout_seconds == 5.0
    assert s.delivery_tracking.poll_schedule == (15.0, 60.0, 300.0, 1800.0)


@pytest.mark.parametrize(
    ("config", "extra", "message"),
    [
        ("not json", {}, "OTP_WEBHOOKS must be a JSON object"),
        ({"nobody": [{"url": "https://a.example.com", "secret": SECRET}]}, {}, "not a client"),
        ({"web": [{"url": "http://a.example.com/h", "secret": SECRET}]}, {}, "must be https"),
        ({"web": [{"url": "https://127.0.0.1/h", "secret": SECRET}]}, {}, "private or loopback"),
        ({"web": [{"url": "https://10.1.2.3/h", "secret": SECRET}]}, {}, "private or loopback"),
        ({"web": [{"url": "https://[::1]/h", "secret": SECRET}]}, {}, "private or loopback"),
        ({"web": [{"url": "https://localhost/h", "secret": SECRET}]}, {}, "private or loopback"),
        ({"web": [{"url": "https://u:p@a.example.com/h", "secret": SECRET}]}, {}, "credentials"),
        ({"web": [{"url": "https://a.example.com/h", "secret": "whsec_c2hvcnQ="}]}, {}, "secret"),
        (
            {"web": [{"url": "https://a.example.com/h", "secret": SECRET, "events": ["A b"]}]},
            {},
            "events",
        ),
        ({"web": [{"url": "https://a.example.com/h", "secret": SECRET, "extra": 1}]}, {}, "extra"),
        ({"web": [{"url": "https://a.example.com/h", "secret": SECRET}] * 2}, {}, "twice"),
        ({}, {"OTP_WEBHOOK_RETRY_SCHEDULE": "5,x"}, "OTP_WEBHOOK_RETRY_SCHEDULE"),
        ({}, {"OTP_WEBHOOK_TIMEOUT_SECONDS": "30"}, "OTP_WEBHOOK_TIMEOUT_SECONDS"),
        ({}, {"OTP_DELIVERY_POLL_SCHEDULE": "60,15"}, "OTP_DELIVERY_POLL_SCHEDULE"),
        ({}, {"OTP_DELIVERY_POLLS_PER_MINUTE": "0"}, "OTP_DELIVERY_POLLS_PER_MINUTE"),
    ],
)
def test_bad_settings_refuse_to_start(config: object, extra: dict[str, str], message: str) -> None:
    env = {**BASE, **extra}
    env["OTP_WEBHOOKS"] = config if isinstance(config, str) else json.dumps(config)
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    text = str(caught.value)
    assert message in text
    assert SECRET not in text and "example.com" not in text and "10.1.2.3" not in text


def test_private_and_plain_http_only_when_allowed() -> None:
    local = {"web": [{"url": "http://127.0.0.1:9000/h", "secret": SECRET}]}
    s = load_settings(hooks(local, OTP_WEBHOOKS_ALLOW_PRIVATE="1"))
    assert s.webhooks.allow_private and s.webhooks.endpoints[0].url == "http://127.0.0.1:9000/h"
