"""Settings of webhooks and delivery tracking, validated at start-up.

``OTP_WEBHOOKS`` is one JSON object, client name -> endpoints:
  {"web": [{"url": "https://hooks.example.com/otp", "secret": "whsec_...", "events": ["*"]}]}
``events`` filters by event type with ``*`` patterns (``delivery.*``); default ``["*"]``.
The client ``"*"`` receives every client's events and the shared ones (``prefix.blocked``,
``provider.balance_low``...): an operator's endpoint.
Plain ``http://`` and private, loopback or link-local addresses need
``OTP_WEBHOOKS_ALLOW_PRIVATE=1`` (development and tests).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping

import httpx
import msgspec

from otpservice.env_values import ConfigError, env_bool, env_float, env_int
from otpservice.events.signing import is_valid_secret

ALL_CLIENTS = "*"
EVENT_PATTERN = re.compile(r"^[a-z_*]+(\.[a-z_*]+)*$")
MAX_ENDPOINTS = 50
# Svix's shape, over about 17.6 h: the delays before the 2nd, 3rd... attempt.
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
# Delivery reports: polls this long after the send, then no more.
DEFAULT_POLL_SCHEDULE = (15.0, 60.0, 300.0, 1800.0)
_PRIVATE_NAMES = ("localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa")


class WebhookEndpoint(msgspec.Struct, frozen=True):
    id: str  # "we_" + 12 hex of client and URL: stable across restarts and reorderings
    client: str  # a client name, or "*" for all
    url: str
    secret: str
    events: tuple[str, ...]


class WebhookSettings(msgspec.Struct, frozen=True, kw_only=True):
    endpoints: tuple[WebhookEndpoint, ...] = ()
    allow_private: bool = False
    timeout_seconds: float = 5.0
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    concurrency: int = 4  # deliveries in flight per endpoint and instance
    max_backlog: int = 10_000  # queued deliveries per endpoint; more become dead letters
    max_dead_letters: int = 10_000  # per endpoint; the oldest go first
    claim_idle_seconds: float = 60.0  # a stream entry pending this long is taken over
    poll_seconds: float = 0.25  # how often each instance looks for new events and due work

    @property
    def lease_seconds(self) -> float:
        """How long a taken delivery is one instance's before another may retry it."""
        return self.timeout_seconds * 2 + 1.0


class DeliveryTrackingSettings(msgspec.Struct, frozen=True, kw_only=True):
    poll_schedule: tuple[float, ...] = DEFAULT_POLL_SCHEDULE  # seconds after the send
    polls_per_minute: int = 60  # all instances together: a Redis budget


class _EndpointSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    secret: str
    events: tuple[str, ...] = ("*",)


def endpoint_id(client: str, url: str) -> str:
    return "we_" + hashlib.sha256(f"{client}\n{url}".encode()).hexdigest()[:12]


def is_private_host(host: str) -> bool:
    """Loopback, private, link-local or otherwise non-global, by address or by name."""
    name = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name == "localhost" or name.endswith(_PRIVATE_NAMES) or "." not in name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global


def _check_url(raw: str, allow_private: bool, where: str) -> str:

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: {message}")

    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise fail("a url is not a URL") from exc
    if url.scheme not in ("https", "http") or not url.host:
        raise fail("a url must be https://host/...")
    if url.userinfo:
        raise fail("a url must not carry credentials (the secret signs instead)")
    if url.fragment:
        raise fail("a url must not have a #fragment")
    if not allow_private:
        if url.scheme != "https":
            raise fail("a url must be https (plain http needs OTP_WEBHOOKS_ALLOW_PRIVATE=1)")
        if is_private_host(url.host):
            raise fail(
                "a url names a private or loopback host (needs OTP_WEBHOOKS_ALLOW_PRIVATE=1)"
            )
    return str(url)


def _seconds_list(
    env: Mapping[str, str], name: str, default: tuple[float, ...]
) -> tuple[float, ...]:

    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ConfigError(f"{name} must list seconds, comma-separated") from exc
    if not 1 <= len(values) <= 30 or any(not 0 < v <= 86_400 for v in values):
        raise ConfigError(f"{name} must list 1 to 30 durations, each 0-86400 seconds")
    return values


def load_webhooks(env: Mapping[str, str], *, clients: frozenset[str]) -> WebhookSettings:

    allow_private = env_bool(env, "OTP_WEBHOOKS_ALLOW_PRIVATE", False)
    raw = env.get("OTP_WEBHOOKS", "").strip()
    try:
        specs = msgspec.json.decode(raw or "{}", type=dict[str, list[_EndpointSpec]])
    except msgspec.ValidationError as exc:
        # msgspec names the path and the expected type, never the value.
        raise ConfigError(f"OTP_WEBHOOKS: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError("OTP_WEBHOOKS must be a JSON object") from exc
    endpoints: list[WebhookEndpoint] = []
    for client, items in specs.items():
        where = f"OTP_WEBHOOKS: {client}"
        if client != ALL_CLIENTS and client not in clients:
            raise ConfigError(f"{where}: not a client of OTP_API_KEYS/OTP_ADMIN_API_KEYS")
        for spec in items:
            url = _check_url(spec.url, allow_private, where)
            if not is_valid_secret(spec.secret):
                raise ConfigError(f"{where}: a secret must be whsec_ and base64 of 24-64 bytes")
            if not spec.events or any(not EVENT_PATTERN.match(p) for p in spec.events):
                raise ConfigError(f"{where}: events are type patterns such as 'delivery.*'")
            eid = endpoint_id(client, url)
            if any(e.id == eid for e in endpoints):
                raise ConfigError(f"{where}: the same url is listed twice")
            endpoints.append(WebhookEndpoint(eid, client, url, spec.secret, tuple(spec.events)))
    if len(endpoints) > MAX_ENDPOINTS:
        raise ConfigError(f"OTP_WEBHOOKS: at most {MAX_ENDPOINTS} endpoints")
    return WebhookSettings(
        endpoints=tuple(endpoints),
        allow_private=allow_private,
        timeout_seconds=env_float(env, "OTP_WEBHOOK_TIMEOUT_SECONDS", 5.0, 0.1, 5.0),
        retry_schedule=_seconds_list(env, "OTP_WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE),
        concurrency=env_int(env, "OTP_WEBHOOK_CONCURRENCY", 4, 1, 64),
        max_backlog=env_int(env, "OTP_WEBHOOK_MAX_BACKLOG", 10_000, 1, 1_000_000),
        max_dead_letters=env_int(env, "OTP_WEBHOOK_MAX_DEAD_LETTERS", 10_000, 1, 1_000_000),
        claim_idle_seconds=env_float(env, "OTP_WEBHOOK_CLAIM_IDLE_SECONDS", 60.0, 0.5, 3600),
        poll_seconds=env_float(env, "OTP_WEBHOOK_POLL_SECONDS", 0.25, 0.01, 10),
    )


def load_delivery_tracking(env: Mapping[str, str]) -> DeliveryTrackingSettings:

    schedule = _seconds_list(env, "OTP_DELIVERY_POLL_SCHEDULE", DEFAULT_POLL_SCHEDULE)
    if list(schedule) != sorted(set(schedule)):
        raise ConfigError("OTP_DELIVERY_POLL_SCHEDULE must be increasing (seconds after the send)")
    return DeliveryTrackingSettings(
        poll_schedule=schedule,
        polls_per_minute=env_int(env, "OTP_DELIVERY_POLLS_PER_MINUTE", 60, 1, 100_000),
    )
