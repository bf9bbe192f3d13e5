"""Settings of the Twilio Verify v2-compatible surface: accounts, API keys and services.

``OTP_TWILIO_ACCOUNTS`` maps credentials to clients, comma-separated:
  ``AC<32 hex>:<auth token>=<client name>``  an account; the client is one of OTP_API_KEYS
  ``SK<32 hex>:<secret>=AC<32 hex>``          an API key acting for a configured account
A token or secret may be given as ``sha256:<64 hex>`` of itself. The same SID may appear
more than once (Twilio's primary and secondary auth tokens).

``OTP_TWILIO_SERVICES`` is one JSON object, Service SID -> settings:
  {"VA<32 hex>": {"account": "AC<32 hex>", "code_length": 6, "ttl_seconds": 600,
                  "friendly_name": "Acme", "template": "Your {name} code is {code}",
                  "resend_cooldown_seconds": 0, "max_sends": 5,
                  "phone_10m": 5, "phone_24h": 10}}
Only ``account`` is required; the rest default to OTP_CODE_LENGTH, OTP_CODE_TTL_SECONDS,
no name, the OTP_TEMPLATE_<locale> texts (named ones when a name is known),
OTP_RESEND_COOLDOWN_SECONDS, OTP_MAX_SENDS, OTP_LIMIT_PHONE_10M and OTP_LIMIT_PHONE_24H.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from otpservice.env_values import ConfigError, env_pairs, key_digest

ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$")
API_KEY_SID = re.compile(r"^SK[0-9a-f]{32}$")
SERVICE_SID = re.compile(r"^VA[0-9a-f]{32}$")
MAX_FRIENDLY_NAME = 30
# The text of a named service (a friendly_name or a create's CustomFriendlyName) when it has
# no template of its own: like Twilio's, the SMS says whose code it is.
NAMED_TEMPLATES = {
    "en": "Your {name} verification code is {code}. It expires in {minutes} minutes. "
    "Never share it.",
    "tr": "{name} doğrulama kodunuz {code}. Kod {minutes} dakika geçerlidir. Kimseyle paylaşmayın.",
    "ar": "رمز التحقق الخاص بك لدى {name} هو {code}. تنتهي صلاحيته خلال {minutes} دقائق. "
    "لا تشاركه مع أحد.",
}


class TwilioCredential(msgspec.Struct, frozen=True):
    """An account SID or API key SID with the SHA-256 of its token or secret."""

    sid: str
    digest: bytes
    account: str  # the account SID the credential acts as


class TwilioService(msgspec.Struct, frozen=True):
    sid: str
    account: str
    code_length: int
    ttl_seconds: int
    friendly_name: str | None = None
    template: str | None = None  # {code}, {minutes}, {name}
    # Send pacing; None keeps the service-wide setting.
    resend_cooldown_seconds: int | None = None
    max_sends: int | None = None
    phone_10m: int | None = None
    phone_24h: int | None = None

    @property
    def purpose(self) -> str:
        """The domain purpose: one pending verification per phone, client and service."""
        return self.sid.lower()


class TwilioSettings(msgspec.Struct, frozen=True):
    credentials: tuple[TwilioCredential, ...] = ()
    accounts: Mapping[str, str] = msgspec.field(default_factory=dict)  # account SID -> client
    services: Mapping[str, TwilioService] = msgspec.field(default_factory=dict)


class _ServiceSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account: str
    code_length: int | None = None
    ttl_seconds: int | None = None
    friendly_name: str | None = None
    template: str | None = None
    resend_cooldown_seconds: int | None = None
    max_sends: int | None = None
    phone_10m: int | None = None
    phone_24h: int | None = None


# Bounds of the pacing fields, as for the service-wide settings they replace.
_PACING_BOUNDS = {
    "resend_cooldown_seconds": (0, 3600),
    "max_sends": (1, 20),
    "phone_10m": (0, 10_000_000),
    "phone_24h": (0, 10_000_000),
}


def load_twilio(
    env: Mapping[str, str],
    *,
    clients: Mapping[str, Mapping[str, str]],
    code_source: str,
    code_length: int,
    code_ttl_seconds: int,
) -> TwilioSettings:
    """Parse both variables. ``clients`` maps each client name to its test numbers."""

    accounts: dict[str, str] = {}
    keys: list[tuple[str, str, str]] = []
    for left, target in env_pairs(env, "OTP_TWILIO_ACCOUNTS"):
        sid, sep, token = left.partition(":")
        if not sep or not token:
            raise ConfigError("OTP_TWILIO_ACCOUNTS: each entry must look like SID:token=target")
        if ACCOUNT_SID.match(sid):
            if target not in clients:
                raise ConfigError(f"OTP_TWILIO_ACCOUNTS: {sid} names a client with no API key")
            if accounts.get(sid, target) != target:
                raise ConfigError(f"OTP_TWILIO_ACCOUNTS: {sid} maps to two clients")
            accounts[sid] = target
        elif not API_KEY_SID.match(sid):
            raise ConfigError("OTP_TWILIO_ACCOUNTS: SIDs are AC or SK and 32 lowercase hex digits")
        keys.append((sid, token, target if sid.startswith("SK") else sid))
    credentials: list[TwilioCredential] = []
    for sid, token, account in keys:
        if account not in accounts:
            raise ConfigError(f"OTP_TWILIO_ACCOUNTS: {sid} acts for an account not configured")
        try:
            digest = key_digest(token)
        except ConfigError as exc:
            raise ConfigError(f"OTP_TWILIO_ACCOUNTS: {sid}: {exc}") from exc
        credentials.append(TwilioCredential(sid=sid, digest=digest, account=account))

    raw = env.get("OTP_TWILIO_SERVICES", "").strip()
    try:
        specs = msgspec.json.decode(raw or "{}", type=dict[str, _ServiceSpec])
    except msgspec.ValidationError as exc:
        raise ConfigError(f"OTP_TWILIO_SERVICES: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError("OTP_TWILIO_SERVICES must be a JSON object") from exc
    lo, hi = (4, 6) if code_source == "provider" else (4, 10)
    services: dict[str, TwilioService] = {}
    for sid, spec in specs.items():
        where = f"OTP_TWILIO_SERVICES: {sid}"
        if not SERVICE_SID.match(sid):
            raise ConfigError("OTP_TWILIO_SERVICES: Service SIDs are VA and 32 lowercase hex")
        if spec.account not in accounts:
            raise ConfigError(f"{where}: account is not in OTP_TWILIO_ACCOUNTS")
        length = spec.code_length or code_length
        if not lo <= length <= hi:
            raise ConfigError(
                f"{where}: code_length must be between {lo} and {hi} "
                f"with OTP_CODE_SOURCE={code_source}"
            )
        if any(len(code) != length for code in clients[accounts[spec.account]].values()):
            raise ConfigError(f"{where}: the client's OTP_TEST_NUMBERS codes are not {length} long")
        ttl = spec.ttl_seconds or code_ttl_seconds
        if not 1 <= ttl <= 600:
            raise ConfigError(f"{where}: ttl_seconds must be between 1 and 600")
        name = spec.friendly_name
        if name is not None and not 1 <= len(name) <= MAX_FRIENDLY_NAME:
            raise ConfigError(f"{where}: friendly_name must be 1 to {MAX_FRIENDLY_NAME} characters")
        if spec.template is not None and "{code}" not in spec.template:
            raise ConfigError(f"{where}: template must contain {{code}}")
        for field, (low, high) in _PACING_BOUNDS.items():
            value = getattr(spec, field)
            if value is not None and not low <= value <= high:
                raise ConfigError(f"{where}: {field} must be between {low} and {high}")
        services[sid] = TwilioService(
            sid=sid,
            account=spec.account,
            code_length=length,
            ttl_seconds=ttl,
            friendly_name=name,
            template=spec.template,
            resend_cooldown_seconds=spec.resend_cooldown_seconds,
            max_sends=spec.max_sends,
            phone_10m=spec.phone_10m,
            phone_24h=spec.phone_24h,
        )
    return TwilioSettings(credentials=tuple(credentials), accounts=accounts, services=services)
