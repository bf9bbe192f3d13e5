"""OTP_PROVIDERS, OTP_ROUTES and the breaker settings: which providers exist and which
numbers go where. Read once at start-up; every problem is one ConfigError naming the
setting (and the provider or route), never a value.

Without OTP_PROVIDERS the single-provider variables (OTP_PROVIDER_API_KEY, ...) make one
Turkey SMS provider named ``primary`` and one route, ``{"default": ["primary"]}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from otpservice.env_values import ConfigError, env_float, env_int
from otpservice.events.signing import is_valid_secret

PROVIDER_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
PREFIX: Final = re.compile(r"^\+[0-9]{1,15}$")
LEGACY_NAME: Final = "primary"
DEFAULT_TURKEYSMS_URL: Final = "https://turkeysms.com.tr/api/v3"
KINDS: Final = ("turkeysms", "http_hook")
CODE_SOURCES: Final = ("provider", "local")
LEGACY_VARIABLES: Final = (
    "OTP_PROVIDER_API_KEY",
    "OTP_PROVIDER_BASE_URL",
    "OTP_PROVIDER_SENDER_ID",
    "OTP_PROVIDER_USE_GET",
)


class ProviderConfigError(Exception):
    """Raised here; config.py turns it into its ConfigError."""


class ProviderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One provider. ``kind`` turkeysms uses api_key/base_url/sender_id/code_source/use_get;
    http_hook uses url/secret and always sends our own (local) code."""

    name: str
    kind: str
    code_source: str = "local"
    api_key: str = ""
    base_url: str = DEFAULT_TURKEYSMS_URL
    sender_id: str = ""
    use_get: bool = False
    url: str = ""
    secret: str = ""
    timeout_seconds: float = 15.0
    connect_timeout_seconds: float = 3.0
    low_balance_sms: int = 100

    def __repr__(self) -> str:  # never the key or the secret
        return f"ProviderSpec(name={self.name!r}, kind={self.kind!r})"


class Route(msgspec.Struct, frozen=True):
    """The providers to try, in order, and whether an uncertain outcome moves on."""

    providers: tuple[str, ...]
    failover_on_uncertain: bool = False


class Routes(msgspec.Struct, frozen=True):
    """Route lookup: the longest matching +prefix, else the country, else ``default``."""

    default: Route
    countries: Mapping[str, Route] = msgspec.field(default_factory=dict)
    prefixes: tuple[tuple[str, Route], ...] = ()  # (digits, route), longest first

    def for_number(self, msisdn: str, country: str) -> Route:
        for digits, route in self.prefixes:
            if msisdn.startswith(digits):
                return route
        return self.countries.get(country, self.default)

    def all(self) -> list[Route]:
        return [self.default, *self.countries.values(), *(r for _, r in self.prefixes)]


class BreakerSettings(msgspec.Struct, frozen=True):
    """Open after ``min_failures`` failures that are also ``failure_rate`` of the sends in
    a ``window_seconds`` window; skip for ``cooloff_seconds``; then one probe decides."""

    window_seconds: int = 60
    min_failures: int = 5
    failure_rate: float = 0.5
    cooloff_seconds: int = 30


class ProviderSettings(msgspec.Struct, frozen=True):
    providers: tuple[ProviderSpec, ...]
    routes: Routes
    breaker: BreakerSettings = BreakerSettings()

    def by_name(self, name: str) -> ProviderSpec:
        return next(p for p in self.providers if p.name == name)

    @property
    def generates_codes(self) -> bool:
        """Some routed provider makes its own codes (so codes are 4-6 digits)."""
        used = {n for r in self.routes.all() for n in r.providers}
        return any(p.code_source == "provider" for p in self.providers if p.name in used)

    @property
    def longest_send_seconds(self) -> float:
        """The longest one send can take: every provider of the longest route timing out."""
        return max(
            sum(self.by_name(n).timeout_seconds for n in r.providers) for r in self.routes.all()
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for p in self.providers for s in (p.api_key, p.secret) if s)


_TURKEYSMS_FIELDS: Final = frozenset(
    {
        "name",
        "kind",
        "code_source",
        "api_key",
        "base_url",
        "sender_id",
        "use_get",
        "timeout_seconds",
        "connect_timeout_seconds",
        "low_balance_sms",
    }
)
_HOOK_FIELDS: Final = frozenset(
    {"name", "kind", "url", "secret", "timeout_seconds", "connect_timeout_seconds"}
)


def _number(
    entry: Mapping[str, Any], field: str, default: float, lo: float, hi: float, where: str
) -> float:
    value = entry.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ProviderConfigError(f"{where}: '{field}' must be a number from {lo:g} to {hi:g}")
    return float(value)


def _url(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/?#]+", value):
        raise ProviderConfigError(f"{where}: '{field}' must be an http(s) URL")
    return value


def _provider(entry: Any, index: int, defaults: Mapping[str, Any]) -> ProviderSpec:
    where = f"OTP_PROVIDERS[{index}]"
    if not isinstance(entry, dict):
        raise ProviderConfigError(f"{where} must be a JSON object")
    name = entry.get("name")
    if not isinstance(name, str) or not PROVIDER_NAME.match(name):
        raise ProviderConfigError(f"{where}: 'name' must be 1-32 letters, digits, '_' or '-'")
    where = f"OTP_PROVIDERS: provider '{name}'"
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ProviderConfigError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
    allowed = _TURKEYSMS_FIELDS if kind == "turkeysms" else _HOOK_FIELDS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ProviderConfigError(f"{where}: unknown field '{unknown[0]}'")
    timeout = _number(entry, "timeout_seconds", defaults["timeout"], 0.1, 120, where)
    connect = _number(entry, "connect_timeout_seconds", defaults["connect"], 0.1, 60, where)
    if kind == "http_hook":
        secret = entry.get("secret")
        if not isinstance(secret, str) or not is_valid_secret(secret):
            raise ProviderConfigError(
                f"{where}: 'secret' must be a Standard Webhooks secret (whsec_ + base64"
                " of 24-64 bytes)"
            )
        return ProviderSpec(
            name=name,
            kind=kind,
            code_source="local",
            url=_url(entry.get("url"), where, "url"),
            secret=secret,
            timeout_seconds=timeout,
            connect_timeout_seconds=connect,
        )
    api_key = entry.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        raise ProviderConfigError(f"{where}: 'api_key' is required")
    code_source = entry.get("code_source", defaults["code_source"])
    if code_source not in CODE_SOURCES:
        raise ProviderConfigError(f"{where}: 'code_source' must be 'provider' or 'local'")
    sender_id = entry.get("sender_id", "")
    if not isinstance(sender_id, str):
        raise ProviderConfigError(f"{where}: 'sender_id' must be a string")
    use_get = entry.get("use_get", False)
    if not isinstance(use_get, bool):
        raise ProviderConfigError(f"{where}: 'use_get' must be true or false")
    low = _number(entry, "low_balance_sms", defaults["low_balance"], 0, 10_000_000, where)
    return ProviderSpec(
        name=name,
        kind=kind,
        code_source=code_source,
        api_key=api_key.strip(),
        base_url=_url(entry.get("base_url", DEFAULT_TURKEYSMS_URL), where, "base_url"),
        sender_id=sender_id,
        use_get=use_get,
        timeout_seconds=timeout,
        connect_timeout_seconds=connect,
        low_balance_sms=int(low),
    )


def _route(value: Any, key: str, names: Mapping[str, ProviderSpec]) -> Route:
    where = f"OTP_ROUTES: route '{key}'"
    failover_on_uncertain = False
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"providers", "failover_on_uncertain"})
        if unknown:
            raise ProviderConfigError(f"{where}: unknown field '{unknown[0]}'")
        failover_on_uncertain = value.get("failover_on_uncertain", False)
        if not isinstance(failover_on_uncertain, bool):
            raise ProviderConfigError(f"{where}: 'failover_on_uncertain' must be true or false")
        value = value.get("providers")
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        raise ProviderConfigError(f"{where} must list provider names")
    if len(set(value)) != len(value):
        raise ProviderConfigError(f"{where} names a provider twice")
    for n in value:
        if n not in names:
            raise ProviderConfigError(f"{where} names an unknown provider '{n}'")
    return Route(tuple(value), failover_on_uncertain)


def _routes(raw: str, names: Mapping[str, ProviderSpec]) -> Routes:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ProviderConfigError("OTP_ROUTES is not valid JSON") from exc
    if not isinstance(data, dict) or "default" not in data:
        raise ProviderConfigError("OTP_ROUTES must be a JSON object with a 'default' route")
    countries: dict[str, Route] = {}
    prefixes: list[tuple[str, Route]] = []
    default = _route(data["default"], "default", names)
    for key, value in data.items():
        if key == "default":
            continue
        if COUNTRY.match(key):
            countries[key] = _route(value, key, names)
        elif PREFIX.match(key):
            prefixes.append((key[1:], _route(value, key, names)))
        else:
            raise ProviderConfigError(
                "OTP_ROUTES: a key must be 'default', an ISO country code (TR) or a +prefix"
            )
    prefixes.sort(key=lambda item: len(item[0]), reverse=True)
    return Routes(default, countries, tuple(prefixes))


def _breaker(env: Mapping[str, str]) -> BreakerSettings:
    try:
        return BreakerSettings(
            window_seconds=env_int(env, "OTP_BREAKER_WINDOW_SECONDS", 60, 1, 3600),
            min_failures=env_int(env, "OTP_BREAKER_MIN_FAILURES", 5, 0, 10_000),
            failure_rate=env_float(env, "OTP_BREAKER_FAILURE_RATE", 0.5, 0.01, 1.0),
            cooloff_seconds=env_int(env, "OTP_BREAKER_COOLOFF_SECONDS", 30, 1, 3600),
        )
    except ConfigError as exc:
        raise ProviderConfigError(str(exc)) from exc


def load_providers(
    env: Mapping[str, str],
    *,
    code_source: str,
    timeout_seconds: float,
    connect_timeout_seconds: float,
    low_balance_sms: int,
    use_get: bool,
) -> ProviderSettings:
    """The providers and routes; the legacy variables when OTP_PROVIDERS is unset."""
    raw = env.get("OTP_PROVIDERS", "").strip()
    routes_raw = env.get("OTP_ROUTES", "").strip()
    breaker = _breaker(env)
    defaults = {
        "code_source": code_source,
        "timeout": timeout_seconds,
        "connect": connect_timeout_seconds,
        "low_balance": low_balance_sms,
    }
    if not raw:
        if routes_raw:
            raise ProviderConfigError("OTP_ROUTES needs OTP_PROVIDERS")
        legacy = ProviderSpec(
            name=LEGACY_NAME,
            kind="turkeysms",
            code_source=code_source,
            api_key=env.get("OTP_PROVIDER_API_KEY", "").strip(),
            base_url=env.get("OTP_PROVIDER_BASE_URL", "").strip() or DEFAULT_TURKEYSMS_URL,
            sender_id=env.get("OTP_PROVIDER_SENDER_ID", ""),
            use_get=use_get,
            timeout_seconds=timeout_seconds,
            connect_timeout_seconds=connect_timeout_seconds,
            low_balance_sms=low_balance_sms,
        )
        return ProviderSettings((legacy,), Routes(Route((LEGACY_NAME,))), breaker)
    for name in LEGACY_VARIABLES:
        if env.get(name, "").strip():
            raise ProviderConfigError(
                f"{name} is set together with OTP_PROVIDERS: give each provider its settings"
                " in OTP_PROVIDERS"
            )
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ProviderConfigError("OTP_PROVIDERS is not valid JSON") from exc
    if not isinstance(data, list) or not data:
        raise ProviderConfigError("OTP_PROVIDERS must be a non-empty JSON list of providers")
    specs: dict[str, ProviderSpec] = {}
    for index, entry in enumerate(data):
        spec = _provider(entry, index, defaults)
        if spec.name in specs:
            raise ProviderConfigError(f"OTP_PROVIDERS: the name '{spec.name}' appears twice")
        specs[spec.name] = spec
    # Without OTP_ROUTES: every provider, in the order given.
    routes = _routes(routes_raw, specs) if routes_raw else Routes(Route(tuple(specs)))
    return ProviderSettings(tuple(specs.values()), routes, breaker)
