"""OTP_PROVIDERS / OTP_ROUTES / OTP_BREAKER_*: parsed once, every mistake named, no value shown."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otpservice.config import ConfigError, load_settings

SECRET_KEY = "turkeysms-key-that-must-not-show-1"
HOOK = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BASE = {
    "OTP_SECRET": "Qm7vX2pL9sKd4RtY8wNc3ZbF6hJe1UaG5oTi0rEy",
    "OTP_API_KEYS": "web=web-client-key-0123456789",
}


def env(providers: Any = None, routes: Any = None, **extra: str) -> dict[str, str]:
    out = dict(BASE, **extra)
    if providers is not None:
        out["OTP_PROVIDERS"] = providers if isinstance(providers, str) else json.dumps(providers)
    if routes is not None:
        out["OTP_ROUTES"] = routes if isinstance(routes, str) else json.dumps(routes)
    return out


MAIN = {"name": "main", "kind": "turkeysms", "api_key": SECRET_KEY, "code_source": "provider"}
BACKUP = {
    "name": "backup",
    "kind": "turkeysms",
    "api_key": "backup-key-00001",
    "code_source": "local",
}
OWN = {"name": "own", "kind": "http_hook", "url": "https://sms.example.com/send", "secret": HOOK}


def test_the_single_provider_variables_make_one_provider_and_one_route() -> None:
    s = load_settings(dict(BASE, OTP_PROVIDER_API_KEY=SECRET_KEY, OTP_PROVIDER_SENDER_ID="ACME"))
    (only,) = s.providers.providers
    assert (only.name, only.kind, only.api_key, only.sender_id) == (
        "primary",
        "turkeysms",
        SECRET_KEY,
        "ACME",
    )
    assert s.providers.routes.for_number("905321234567", "TR").providers == ("primary",)
    assert s.code_source == "provider"


def test_the_longest_prefix_wins_over_the_country_and_the_country_over_default() -> None:
    routes = {"default": ["main"], "TR": ["backup", "main"], "+90850": ["own"], "+9085": ["main"]}
    s = load_settings(env([MAIN, BACKUP, OWN], routes))
    table = s.providers.routes
    assert table.for_number("908501234567", "TR").providers == ("own",)
    assert table.for_number("908511234567", "TR").providers == ("main",)
    assert table.for_number("905321234567", "TR").providers == ("backup", "main")
    assert table.for_number("4915112345678", "DE").providers == ("main",)


def test_failover_on_uncertain_is_per_route_and_off_by_default() -> None:
    routes = {
        "default": ["main", "backup"],
        "TR": {"providers": ["main", "backup"], "failover_on_uncertain": True},
    }
    table = load_settings(env([MAIN, BACKUP], routes)).providers.routes
    assert not table.default.failover_on_uncertain
    assert table.countries["TR"].failover_on_uncertain


def test_without_routes_every_provider_in_order() -> None:
    s = load_settings(env([BACKUP, OWN]))
    assert s.providers.routes.default.providers == ("backup", "own")
    assert s.code_source == "local"  # nobody routed makes codes: codes may be 4-10 digits
    assert load_settings(env([BACKUP, OWN], OTP_CODE_LENGTH="8")).code_length == 8


def test_a_provider_that_makes_codes_bounds_the_code_length() -> None:
    with pytest.raises(ConfigError, match="OTP_CODE_LENGTH"):
        load_settings(env([MAIN, BACKUP], OTP_CODE_LENGTH="8"))


def test_provider_secrets_are_redacted_from_logs() -> None:
    s = load_settings(env([MAIN, OWN]))
    assert SECRET_KEY in s.secret_values and HOOK in s.secret_values
    assert SECRET_KEY not in repr(s.providers)


@pytest.mark.parametrize(
    ("providers", "routes", "extra", "message"),
    [
        ("not json", None, {}, "OTP_PROVIDERS is not valid JSON"),
        ([], None, {}, "OTP_PROVIDERS must be a non-empty"),
        ([{**MAIN, "name": "bad name"}], None, {}, "'name'"),
        ([MAIN, MAIN], None, {}, "appears twice"),
        ([{**MAIN, "kind": "smpp"}], None, {}, "'kind'"),
        ([{**MAIN, "api_key": ""}], None, {}, "'api_key' is required"),
        ([{**MAIN, "code_source": "remote"}], None, {}, "'code_source'"),
        ([{**MAIN, "sender": "x"}], None, {}, "unknown field 'sender'"),
        ([{**MAIN, "base_url": "ftp://x"}], None, {}, "'base_url'"),
        ([{**MAIN, "timeout_seconds": 0}], None, {}, "'timeout_seconds'"),
        ([{**OWN, "secret": "not-a-whsec-" + SECRET_KEY}], None, {}, "'secret'"),
        ([{**OWN, "code_source": "provider"}], None, {}, "unknown field 'code_source'"),
        ([MAIN], {"TR": ["main"]}, {}, "'default' route"),
        ([MAIN], {"default": ["nobody"]}, {}, "unknown provider 'nobody'"),
        ([MAIN], {"default": []}, {}, "must list provider names"),
        ([MAIN], {"default": ["main", "main"]}, {}, "twice"),
        ([MAIN], {"default": ["main"], "Turkey": ["main"]}, {}, "a key must be"),
        ([MAIN], {"default": ["main"], "+90 5": ["main"]}, {}, "a key must be"),
        (
            [MAIN],
            {"default": {"providers": ["main"], "failover_on_uncertain": "yes"}},
            {},
            "failover_on_uncertain",
        ),
        (None, {"default": ["main"]}, {"OTP_PROVIDER_API_KEY": "k" * 20}, "needs OTP_PROVIDERS"),
        ([MAIN], None, {"OTP_PROVIDER_API_KEY": SECRET_KEY}, "set together with OTP_PROVIDERS"),
        ([MAIN], None, {"OTP_BREAKER_FAILURE_RATE": "2"}, "OTP_BREAKER_FAILURE_RATE"),
        ([MAIN], None, {"OTP_BREAKER_COOLOFF_SECONDS": "soon"}, "OTP_BREAKER_COOLOFF_SECONDS"),
    ],
)
def test_mistakes_are_named_without_their_values(
    providers: Any, routes: Any, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(providers, routes, **extra))
    text = str(caught.value)
    assert message in text
    assert SECRET_KEY not in text and HOOK not in text


def test_providers_replace_the_required_provider_key() -> None:
    assert load_settings(env([OWN])).providers.providers[0].kind == "http_hook"
    with pytest.raises(ConfigError, match="OTP_PROVIDER_API_KEY is required"):
        load_settings(dict(BASE))
