"""Reading one environment variable's value: a whole number, a number, a boolean, a list of
name=value pairs, an API key as given; every problem is one ConfigError that names the
variable, never its value (a value may be a secret)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TypeVar

N = TypeVar("N", int, float)


class ConfigError(Exception):
    """Configuration that cannot work. The message names the setting, never its value."""


def key_digest(spec: str) -> bytes:
    """A key as given in OTP_API_KEYS: the key itself, or 'sha256:<hex>' of it."""
    if spec.startswith("sha256:"):
        try:
            digest = bytes.fromhex(spec[7:])
        except ValueError as exc:
            raise ConfigError("a 'sha256:' key is not hex") from exc
        if len(digest) != 32:
            raise ConfigError("a 'sha256:' key is not 64 hex digits")
        return digest
    if len(spec) < 16:
        raise ConfigError("an API key is shorter than 16 characters")
    return hashlib.sha256(spec.encode()).digest()


def env_pairs(env: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    """Parse 'a=b,c=d' (whitespace ignored); the error names the variable only."""
    raw = env.get(name, "").strip()
    out: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ConfigError(f"{name}: each entry must look like name=value")
        out.append((left.strip(), right.strip()))
    return out


def env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _ranged(env, name, default, lo, hi, int, "a whole number")


def env_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _ranged(env, name, default, lo, hi, float, "a number")


def _ranged(
    env: Mapping[str, str],
    name: str,
    default: N,
    lo: N,
    hi: N,
    parse: Callable[[str], N],
    what: str,
) -> N:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}") from exc
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false")
