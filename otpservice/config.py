"""Settings, read once from the environment and validated with one clear message per problem.

Every variable starts with ``OTP_``; the README's configuration reference lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec
import phonenumbers

from otpservice.client_config import ClientKey as ClientKey  # re-exported: callers' home
from otpservice.client_config import load_clients
from otpservice.config_checks import insecure_findings, provider_url_problem
from otpservice.domain.codes import PRESETS, HashPreset
from otpservice.env_values import ConfigError as ConfigError  # load_settings raises it
from otpservice.env_values import (
    env_bool,
    env_float,
    env_int,
)
from otpservice.guard.settings import GuardSettings
from otpservice.provider_config import (
    LEGACY_NAME,
    ProviderConfigError,
    ProviderSettings,
    ProviderSpec,
    Route,
    Routes,
    load_providers,
)
from otpservice.throttling.admission import AdmissionSettings
from otpservice.throttling.policies import QUOTA_ENV, CheckBackoff, Limits, PrefixBurst, Quota
from otpservice.throttling.shares import BudgetShares
from otpservice.twilio_config import TwilioSettings, load_twilio
from otpservice.webhooks_config import (
    DeliveryTrackingSettings,
    WebhookSettings,
    load_delivery_tracking,
    load_webhooks,
)

LOCALES = ("en", "tr", "ar")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ServerLimits(msgspec.Struct, frozen=True):
    """How ``serve`` bounds connections (granian) and request bodies (api/edge.py)."""

    max_connections: int = 10_000  # per worker; a connection that holds one costs a socket
    header_timeout_seconds: int = 10  # also how long an idle keep-alive connection is kept
    body_timeout_seconds: float = 10.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    secret: bytes
    clients: tuple[ClientKey, ...]
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    redis_sentinel_master: str | None = None
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 500
    provider_base_url: str = "https://turkeysms.com.tr/api/v3"
    provider_api_key: str = ""
    provider_sender_id: str = ""
    provider_use_get: bool = False
    provider_timeout_seconds: float = 15.0
    provider_connect_timeout_seconds: float = 3.0
    code_source: str = "provider"
    code_length: int = 6
    code_ttl_seconds: int = 300
    max_checks: int = 5
    max_sends: int = 3
    resend_cooldown_seconds: int = 30
    accept_previous_code: bool = True
    events: bool = True  # OTP_EVENTS=0 only to measure what the event log costs
    history_days: int = 7  # retention of events, statistics and refusal counts
    expiry_sweep_seconds: float = 1.0  # how often an instance looks for expired verifications
    allowed_countries: frozenset[str] = frozenset({"TR"})
    default_region: str = "TR"
    prefix_allow: tuple[str, ...] = ()
    prefix_deny: tuple[str, ...] = ()
    hash_preset: HashPreset = PRESETS["owasp"]
    hash_workers: int = 0  # 0: one per core
    templates: Mapping[str, str] = msgspec.field(default_factory=dict)
    limits: Limits = Limits()
    idempotency_ttl_seconds: int = 86_400
    max_body_bytes: int = 16_384
    log_format: str = "json"
    log_level: str = "INFO"
    balance_poll_seconds: float = 300.0
    low_balance_sms: int = 100
    development: bool = False
    console: bool = False  # the operator console at /console
    console_session_seconds: int = 28_800
    twilio: TwilioSettings = msgspec.field(default_factory=TwilioSettings)
    admission: AdmissionSettings = AdmissionSettings()
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    delivery_tracking: DeliveryTrackingSettings = msgspec.field(
        default_factory=DeliveryTrackingSettings
    )
    # The providers and routes (OTP_PROVIDERS/OTP_ROUTES, or the single-provider variables).
    providers: ProviderSettings = msgspec.field(
        default_factory=lambda: ProviderSettings(
            (ProviderSpec(name=LEGACY_NAME, kind="turkeysms"),), Routes(Route((LEGACY_NAME,)))
        )
    )

    guard: GuardSettings = GuardSettings()
    shares: BudgetShares = BudgetShares()
    # The environment's values of the variables a runtime policy may override
    # (policy/runtime.py): the base that a runtime change is validated on top of.
    policy_env: Mapping[str, str] = msgspec.field(default_factory=dict)

    @property
    def longest_send_seconds(self) -> float:
        """How long one send may take, failovers included."""
        return self.providers.longest_send_seconds

    @property
    def secret_values(self) -> tuple[str | bytes, ...]:
        """What the log redaction removes wherever it appears."""
        return (
            self.secret,
            self.provider_api_key,
            *self.providers.secrets,
            *(e.secret for e in self.webhooks.endpoints),
        )

    server: ServerLimits = ServerLimits()
    api_docs: bool = False
    # Development-only settings that OTP_ALLOW_INSECURE=1 let through (warned at every start).
    insecure_allowed: tuple[str, ...] = ()

    @property
    def admin_clients(self) -> tuple[ClientKey, ...]:
        return tuple(c for c in self.clients if c.admin)


DEFAULT_TEMPLATES = {
    "en": "Your verification code is {code}. It expires in {minutes} minutes. Never share it.",
    "tr": "Doğrulama kodunuz {code}. Kod {minutes} dakika geçerlidir. Kimseyle paylaşmayın.",
    "ar": "رمز التحقق الخاص بك هو {code}. تنتهي صلاحيته خلال {minutes} دقائق. لا تشاركه مع أحد.",
}


def _limits(env: Mapping[str, str]) -> Limits:
    base = Limits()
    changes: dict[str, object] = {}
    for var, field in QUOTA_ENV.items():
        quota: Quota = getattr(base, field)
        changes[field] = Quota(env_int(env, var, quota.limit, 0, 10_000_000), quota.period)
    burst = base.prefix_burst
    changes["prefix_burst"] = PrefixBurst(
        numbers=env_int(env, "OTP_PREFIX_BURST_NUMBERS", burst.numbers, 0, 1_000_000),
        window=env_int(env, "OTP_PREFIX_BURST_WINDOW_SECONDS", burst.window, 1, 86_400),
        block=env_int(env, "OTP_PREFIX_BLOCK_SECONDS", burst.block, 1, 7 * 86_400),
    )
    changes["prefix_drop_digits"] = env_int(env, "OTP_PREFIX_DROP_DIGITS", 4, 1, 10)
    back = base.check_backoff
    changes["check_backoff"] = CheckBackoff(
        free_failures=env_int(env, "OTP_CHECK_FREE_FAILURES", back.free_failures, 1, 1000),
        base_seconds=env_float(env, "OTP_CHECK_DELAY_BASE_SECONDS", back.base_seconds, 0.001, 3600),
        cap_seconds=env_float(env, "OTP_CHECK_DELAY_CAP_SECONDS", back.cap_seconds, 0.001, 86_400),
        daily_failures=env_int(env, "OTP_CHECK_DAILY_FAILURES", back.daily_failures, 1, 1_000_000),
        test_daily_failures=env_int(
            env, "OTP_TEST_NUMBER_DAILY_FAILURES", back.test_daily_failures, 1, 1_000_000
        ),
    )
    changes["period_scale"] = env_float(env, "OTP_LIMIT_PERIOD_SCALE", 1.0, 0.0001, 1.0)
    return msgspec.structs.replace(base, **changes)


def _admission(env: Mapping[str, str]) -> AdmissionSettings:
    return AdmissionSettings(
        enabled=env_bool(env, "OTP_ADMISSION", True),
        client_in_flight=env_int(env, "OTP_ADMISSION_CLIENT_IN_FLIGHT", 32, 1, 100_000),
        queue_seconds=env_float(env, "OTP_ADMISSION_QUEUE_SECONDS", 0.25, 0.0, 30.0),
        lag_target_seconds=env_float(env, "OTP_ADMISSION_LAG_TARGET_SECONDS", 0.02, 0.001, 10.0),
    )


def _server(env: Mapping[str, str]) -> ServerLimits:
    base = ServerLimits()
    return ServerLimits(
        max_connections=env_int(
            env, "OTP_SERVER_MAX_CONNECTIONS", base.max_connections, 16, 1_000_000
        ),
        header_timeout_seconds=env_int(
            env, "OTP_SERVER_HEADER_TIMEOUT_SECONDS", base.header_timeout_seconds, 1, 60
        ),
        body_timeout_seconds=env_float(
            env, "OTP_SERVER_BODY_TIMEOUT_SECONDS", base.body_timeout_seconds, 0.1, 300
        ),
    )


def _hash_preset(env: Mapping[str, str]) -> HashPreset:
    name = env.get("OTP_HASH_PRESET", "owasp").strip() or "owasp"
    if name not in PRESETS:
        raise ConfigError(f"OTP_HASH_PRESET must be one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    return HashPreset(
        memory_kib=env_int(env, "OTP_ARGON2_MEMORY_KIB", preset.memory_kib, 8, 4_194_304),
        time_cost=env_int(env, "OTP_ARGON2_TIME_COST", preset.time_cost, 1, 100),
        parallelism=env_int(env, "OTP_ARGON2_PARALLELISM", preset.parallelism, 1, 64),
    )


def policy_fields(
    env: Mapping[str, str], region: str, client_names: tuple[str, ...]
) -> dict[str, object]:
    """The settings a runtime policy may change, parsed from ``env``: the environment at
    start and every runtime change go through this one function."""
    from otpservice.policy.loader import load_guard, load_shares

    countries = frozenset(
        c.strip().upper() for c in env.get("OTP_ALLOWED_COUNTRIES", "TR").split(",") if c.strip()
    )
    if not countries:
        raise ConfigError("OTP_ALLOWED_COUNTRIES must name at least one country")
    if any(c not in phonenumbers.SUPPORTED_REGIONS for c in countries):
        raise ConfigError("OTP_ALLOWED_COUNTRIES must list ISO 3166 country codes such as TR")

    def prefixes(name: str) -> tuple[str, ...]:
        items = tuple(p.strip().lstrip("+") for p in env.get(name, "").split(",") if p.strip())
        if any(not p.isdigit() for p in items):
            raise ConfigError(f"{name} must list digit prefixes such as +90850")
        return items

    return {
        "max_checks": env_int(env, "OTP_MAX_CHECKS", 5, 1, 20),
        "max_sends": env_int(env, "OTP_MAX_SENDS", 3, 1, 20),
        "resend_cooldown_seconds": env_int(env, "OTP_RESEND_COOLDOWN_SECONDS", 30, 0, 3600),
        "allowed_countries": countries,
        "prefix_allow": prefixes("OTP_PREFIX_ALLOW"),
        "prefix_deny": prefixes("OTP_PREFIX_DENY"),
        "limits": _limits(env),
        "guard": load_guard(env, region),
        "shares": load_shares(env, client_names),
    }


def load_settings(env: Mapping[str, str] | None = None, *, development: bool = False) -> Settings:
    """Build the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    secret = env.get("OTP_SECRET", "")
    if not development:
        required = ["OTP_SECRET", "OTP_API_KEYS"]
        if not env.get("OTP_PROVIDERS", "").strip():
            required.append("OTP_PROVIDER_API_KEY")
        missing = [name for name in required if not env.get(name, "").strip()]
        if missing:
            raise ConfigError(f"{missing[0]} is required (set it in the environment)")
    if secret and len(secret) < 32:
        raise ConfigError("OTP_SECRET must be at least 32 characters")
    code_source = env.get("OTP_CODE_SOURCE", "provider").strip() or "provider"
    if code_source not in {"provider", "local"}:
        raise ConfigError("OTP_CODE_SOURCE must be 'provider' or 'local'")
    provider_timeout = env_float(env, "OTP_PROVIDER_TIMEOUT_SECONDS", 15.0, 0.1, 120)
    connect_timeout = env_float(env, "OTP_PROVIDER_CONNECT_TIMEOUT_SECONDS", 3.0, 0.1, 60)
    low_balance_sms = env_int(env, "OTP_LOW_BALANCE_SMS", 100, 0, 10_000_000)
    try:
        providers = load_providers(
            env,
            code_source=code_source,
            timeout_seconds=provider_timeout,
            connect_timeout_seconds=connect_timeout,
            low_balance_sms=low_balance_sms,
            use_get=env_bool(env, "OTP_PROVIDER_USE_GET", False),
        )
    except ProviderConfigError as exc:
        raise ConfigError(str(exc)) from exc
    # Codes are 4-6 digits wherever a provider makes them; that bounds every code.
    code_source = "provider" if providers.generates_codes else "local"
    lo, hi = (4, 6) if code_source == "provider" else (4, 10)
    code_length = env_int(env, "OTP_CODE_LENGTH", 6, lo, hi)
    code_ttl_seconds = env_int(env, "OTP_CODE_TTL_SECONDS", 300, 1, 600)
    region = (env.get("OTP_DEFAULT_REGION", "TR").strip() or "TR").upper()
    templates = dict(DEFAULT_TEMPLATES)
    for locale in LOCALES:
        override = env.get(f"OTP_TEMPLATE_{locale.upper()}")
        if override:
            if "{code}" not in override:
                raise ConfigError(f"OTP_TEMPLATE_{locale.upper()} must contain {{code}}")
            templates[locale] = override
    log_format = env.get("OTP_LOG_FORMAT", "console" if development else "json").strip()
    if log_format not in {"json", "console"}:
        raise ConfigError("OTP_LOG_FORMAT must be 'json' or 'console'")
    clients = load_clients(env, code_length, region)
    if not clients and not development:
        raise ConfigError("OTP_API_KEYS is required (set it in the environment)")
    has_admin = any(c.admin for c in clients)
    console = env_bool(env, "OTP_CONSOLE", development and has_admin)  # dev: on with an admin key
    if console and not has_admin:
        raise ConfigError("OTP_CONSOLE needs an admin key in OTP_ADMIN_API_KEYS to sign in with")
    from otpservice.policy.variables import runtime_variables

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError("OTP_DEFAULT_REGION must be an ISO 3166 country code such as TR")
    log_level = env.get("OTP_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"OTP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    provider_urls = [
        (
            "OTP_PROVIDER_BASE_URL" if p.name == LEGACY_NAME else f"OTP_PROVIDERS ({p.name})",
            p.base_url if p.kind == "turkeysms" else p.url,
        )
        for p in providers.providers
    ]
    for setting, url in provider_urls:
        problem = provider_url_problem(setting, url)
        if problem:
            raise ConfigError(problem)
    preset = _hash_preset(env)
    insecure = insecure_findings(
        secret=secret,
        preset_name=env.get("OTP_HASH_PRESET", "").strip(),
        preset=preset,
        provider_urls=provider_urls,
    )
    allow_insecure = env_bool(env, "OTP_ALLOW_INSECURE", False)
    if insecure and not (development or allow_insecure):
        raise ConfigError(
            f"{insecure[0]}; refused outside `otpservice dev` unless OTP_ALLOW_INSECURE=1"
        )

    policy = policy_fields(env, region, tuple(c.name for c in clients))
    return Settings(
        secret=secret.encode(),
        clients=clients,
        redis_url=env.get("OTP_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_cluster=env_bool(env, "OTP_REDIS_CLUSTER", False),
        redis_sentinel_master=env.get("OTP_REDIS_SENTINEL_MASTER") or None,
        redis_wait_replicas=env_int(env, "OTP_REDIS_WAIT_REPLICAS", 0, 0, 16),
        redis_wait_timeout_ms=env_int(env, "OTP_REDIS_WAIT_TIMEOUT_MS", 500, 1, 60_000),
        provider_base_url=env.get("OTP_PROVIDER_BASE_URL", "https://turkeysms.com.tr/api/v3"),
        provider_api_key=env.get("OTP_PROVIDER_API_KEY", ""),
        provider_sender_id=env.get("OTP_PROVIDER_SENDER_ID", ""),
        provider_use_get=env_bool(env, "OTP_PROVIDER_USE_GET", False),
        provider_timeout_seconds=provider_timeout,
        provider_connect_timeout_seconds=connect_timeout,
        code_source=code_source,
        code_length=code_length,
        code_ttl_seconds=code_ttl_seconds,
        accept_previous_code=env_bool(env, "OTP_ACCEPT_PREVIOUS_CODE", True),
        events=env_bool(env, "OTP_EVENTS", True),
        history_days=env_int(env, "OTP_HISTORY_DAYS", 7, 1, 90),
        expiry_sweep_seconds=env_float(env, "OTP_EXPIRY_SWEEP_SECONDS", 1.0, 0.1, 60),
        default_region=region,
        hash_preset=preset,
        hash_workers=env_int(env, "OTP_HASH_WORKERS", 0, 0, 256),
        templates=templates,
        idempotency_ttl_seconds=env_int(env, "OTP_IDEMPOTENCY_TTL_SECONDS", 86_400, 60, 7 * 86_400),
        max_body_bytes=env_int(env, "OTP_MAX_BODY_BYTES", 16_384, 256, 1_048_576),
        log_format=log_format,
        log_level=log_level,
        balance_poll_seconds=env_float(env, "OTP_BALANCE_POLL_SECONDS", 300.0, 0, 86_400),
        low_balance_sms=low_balance_sms,
        development=development,
        admission=_admission(env),
        console=console,
        console_session_seconds=env_int(
            env, "OTP_CONSOLE_SESSION_SECONDS", 28_800, 300, 7 * 86_400
        ),
        server=_server(env),
        api_docs=env_bool(env, "OTP_API_DOCS", development),
        insecure_allowed=tuple(insecure) if allow_insecure and not development else (),
        twilio=load_twilio(
            env,
            clients={c.name: c.test_numbers for c in clients},
            code_source=code_source,
            code_length=code_length,
            code_ttl_seconds=code_ttl_seconds,
        ),
        webhooks=load_webhooks(env, clients=frozenset(c.name for c in clients)),
        delivery_tracking=load_delivery_tracking(env),
        providers=providers,
        policy_env={k: env[k] for k in runtime_variables() if k in env},
        **policy,  # type: ignore[arg-type]
    )
