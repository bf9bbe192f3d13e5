"""Which variables a runtime policy may set, and the settings they make.

The set is whatever config.policy_fields reads (found by reading it once with a recording
mapping), so a policy variable added there is adjustable at runtime with no second list."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping

import msgspec

from otpservice.config import Settings, policy_fields

# Read by policy_fields but fixed for the life of the process: it changes what a prefix
# key means, so counters and blocks already in Redis would stop matching.
# OTP_LIMIT_PERIOD_SCALE replays days in seconds for drills and tests, never at runtime.
FIXED_AT_START = frozenset({"OTP_PREFIX_DROP_DIGITS", "OTP_LIMIT_PERIOD_SCALE"})


class _Recording(Mapping[str, str]):
    def __init__(self) -> None:
        self.read: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.read.append(key)
        raise KeyError(key)

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.append(key)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@functools.cache
def runtime_variables() -> tuple[str, ...]:
    recording = _Recording()
    policy_fields(recording, "TR", ())
    seen = dict.fromkeys(recording.read)
    return tuple(sorted(name for name in seen if name not in FIXED_AT_START))


def with_overrides(base: Settings, overrides: Mapping[str, str]) -> Settings:
    """``base`` with the runtime overrides applied over its environment; raises ConfigError
    (naming the variable, never the value) exactly as the environment would."""
    merged = {**base.policy_env, **overrides}
    names = tuple(c.name for c in base.clients)
    fields = policy_fields(merged, base.default_region, names)
    return msgspec.structs.replace(base, **fields)
