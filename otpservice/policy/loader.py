"""Parsing of the guard's and the shared budgets' settings, with config.py's helpers, so
that the environment and a runtime change are validated by the same code.

config.py imports this module to build its settings, so config's helpers are imported
inside the functions (at call time config is complete)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import msgspec

from otpservice.env_values import ConfigError, env_float, env_int, env_pairs
from otpservice.guard.settings import GuardMode, GuardSettings
from otpservice.throttling.policies import Quota
from otpservice.throttling.shares import BudgetShares

KEY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_KEY_WINDOWS = 5


def _digit_prefixes(env: Mapping[str, str], name: str) -> tuple[str, ...]:

    items = tuple(p.strip().lstrip("+") for p in env.get(name, "").split(",") if p.strip())
    if any(not p.isdigit() for p in items):
        raise ConfigError(f"{name} must list digit prefixes such as +90850")
    return items


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:

    return env_float(env, name, default, 0.0, 1.0)


def load_guard(env: Mapping[str, str], region: str) -> GuardSettings:
    from otpservice.domain.phone import parse_phone
    from otpservice.errors import InvalidPhone

    base = GuardSettings()
    raw_mode = env.get("OTP_GUARD_MODE", "").strip().lower() or base.mode.value
    try:
        mode = GuardMode(raw_mode)
    except ValueError as exc:
        raise ConfigError("OTP_GUARD_MODE must be off, monitor or enforce") from exc
    numbers: set[str] = set()
    for raw in filter(None, (n.strip() for n in env.get("OTP_GUARD_SAFE_NUMBERS", "").split(","))):
        try:
            numbers.add(parse_phone(raw, region).e164)
        except InvalidPhone as exc:
            raise ConfigError(
                "OTP_GUARD_SAFE_NUMBERS: a number is not a valid mobile number"
            ) from exc
    countries = frozenset(
        c.strip().upper() for c in env.get("OTP_GUARD_BLOCK_COUNTRIES", "").split(",") if c.strip()
    )
    if any(not (len(c) == 2 and c.isalpha()) for c in countries):
        raise ConfigError("OTP_GUARD_BLOCK_COUNTRIES must list ISO country codes such as TR")

    def seconds(name: str, default_ms: int, lo: int, hi: int) -> int:
        return env_int(env, name, default_ms // 1000, lo, hi) * 1000

    window = seconds("OTP_GUARD_WINDOW_SECONDS", base.window_ms, 1, 7 * 86_400)
    settle = seconds("OTP_GUARD_SETTLE_SECONDS", base.settle_ms, 0, 86_400)
    if settle >= window:
        raise ConfigError("OTP_GUARD_SETTLE_SECONDS must be below OTP_GUARD_WINDOW_SECONDS")
    block = seconds("OTP_GUARD_BLOCK_SECONDS", base.block_ms, 1, 30 * 86_400)
    block_max = seconds("OTP_GUARD_BLOCK_MAX_SECONDS", base.block_max_ms, 1, 30 * 86_400)
    if block_max < block:
        raise ConfigError("OTP_GUARD_BLOCK_MAX_SECONDS must be at least OTP_GUARD_BLOCK_SECONDS")
    return GuardSettings(
        mode=mode,
        window_ms=window,
        settle_ms=settle,
        min_sends=env_int(env, "OTP_GUARD_MIN_SENDS", base.min_sends, 1, 1_000_000),
        min_conversion=_fraction(env, "OTP_GUARD_MIN_CONVERSION", base.min_conversion),
        block_ms=block,
        escalation=env_int(env, "OTP_GUARD_ESCALATION", base.escalation, 1, 100),
        block_max_ms=block_max,
        decay_ms=seconds("OTP_GUARD_DECAY_SECONDS", base.decay_ms, 1, 365 * 86_400),
        country_min_sends=env_int(
            env, "OTP_GUARD_COUNTRY_MIN_SENDS", base.country_min_sends, 1, 100_000_000
        ),
        country_min_conversion=_fraction(
            env, "OTP_GUARD_COUNTRY_MIN_CONVERSION", base.country_min_conversion
        ),
        block_countries=countries,
        safe_numbers=frozenset(numbers),
        safe_prefixes=_digit_prefixes(env, "OTP_GUARD_SAFE_PREFIXES"),
        returning_ms=seconds("OTP_GUARD_RETURNING_SECONDS", base.returning_ms, 1, 366 * 86_400),
    )


class _Window(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    limit: int
    period: int


def load_shares(env: Mapping[str, str], clients: Iterable[str]) -> BudgetShares:

    names = set(clients)
    default = 1.0
    shares: dict[str, float] = {}
    for name, raw in env_pairs(env, "OTP_CLIENT_BUDGET_SHARES"):
        try:
            value = float(raw)
        except ValueError as exc:
            raise ConfigError("OTP_CLIENT_BUDGET_SHARES: each share is a number") from exc
        if not 0 < value <= 1:
            raise ConfigError("OTP_CLIENT_BUDGET_SHARES: each share is above 0 and at most 1")
        if name == "*":
            default = value
        elif name not in names:
            raise ConfigError("OTP_CLIENT_BUDGET_SHARES: names a client that has no key")
        else:
            shares[name] = value
    reserved = _fraction(env, "OTP_BUDGET_RESERVED_SHARE", BudgetShares().reserved_share)
    if reserved >= 1:
        raise ConfigError("OTP_BUDGET_RESERVED_SHARE must be below 1")
    return BudgetShares(
        default_client_share=default,
        client_shares=shares,
        reserved_share=reserved,
        key_budgets=_key_budgets(env),
    )


def _key_budgets(env: Mapping[str, str]) -> dict[str, tuple[Quota, ...]]:
    """OTP_RATE_LIMIT_KEYS: {"user_id": [{"limit": 5, "period": 3600}, ...], ...}"""

    name = "OTP_RATE_LIMIT_KEYS"
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        parsed = msgspec.json.decode(raw, type=dict[str, list[_Window]])
    except msgspec.DecodeError as exc:
        raise ConfigError(
            f"{name} must be a JSON object of key name -> list of {{limit, period}}"
        ) from exc
    out: dict[str, tuple[Quota, ...]] = {}
    for key, windows in parsed.items():
        if not KEY_NAME.match(key):
            raise ConfigError(f"{name}: key names use a-z, 0-9 and '_' (at most 32)")
        if not 1 <= len(windows) <= MAX_KEY_WINDOWS:
            raise ConfigError(f"{name}: each key has 1 to {MAX_KEY_WINDOWS} windows")
        for w in windows:
            if not 1 <= w.limit <= 10_000_000 or not 1 <= w.period <= 30 * 86_400:
                raise ConfigError(f"{name}: limits are 1-10000000, periods 1-2592000 seconds")
        if len({w.period for w in windows}) != len(windows):
            raise ConfigError(f"{name}: a key's windows need different periods")
        out[key] = tuple(Quota(w.limit, w.period) for w in windows)
    return out
