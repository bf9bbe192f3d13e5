"""The guard's settings: modes, windows, thresholds, escalation and the safe list."""

from __future__ import annotations

import enum

import msgspec


class GuardMode(enum.Enum):
    OFF = "off"
    MONITOR = "monitor"  # records would-be blocks (events, metrics), refuses nothing
    ENFORCE = "enforce"


class GuardSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Defaults are the README's. Times in milliseconds (the environment gives seconds;
    tests scale a day down to seconds); conversions are fractions (0.1 = 10 %)."""

    mode: GuardMode = GuardMode.ENFORCE
    # Conversion is measured over this rolling window: a day, so that evidence outlasts an
    # attacker who pauses (a refusal's wait, a budget's hour) before coming back.
    window_ms: int = 86_400_000
    settle_ms: int = 180_000  # a send younger than this is not yet held against a prefix
    min_sends: int = 5  # settled numbers in the window before a prefix can be judged
    min_conversion: float = 0.10
    block_ms: int = 3_600_000  # first block; each repeat multiplies it by ``escalation``
    escalation: int = 4
    block_max_ms: int = 86_400_000
    decay_ms: int = 86_400_000  # a prefix clean this long after a block starts over
    country_min_sends: int = 100
    country_min_conversion: float = 0.10
    block_countries: frozenset[str] = frozenset()  # countries a low conversion may block
    safe_numbers: frozenset[str] = frozenset()  # E.164: never blocked by the guard
    safe_prefixes: tuple[str, ...] = ()  # digit prefixes: never blocked by the guard
    returning_ms: int = 30 * 86_400_000  # an approval makes a number "returning" this long

    def is_safe(self, digits: str) -> bool:
        return ("+" + digits) in self.safe_numbers or any(
            digits.startswith(p) for p in self.safe_prefixes
        )

    def spec(self) -> str:
        """The numbers the guard's Lua reads, as one argument (built once per policy)."""
        mode = {GuardMode.OFF: 0, GuardMode.MONITOR: 1, GuardMode.ENFORCE: 2}[self.mode]
        return ",".join(
            str(v)
            for v in (
                mode,
                self.window_ms,
                self.settle_ms,
                self.min_sends,
                round(self.min_conversion * 1000),
                self.block_ms,
                self.escalation,
                self.block_max_ms,
                self.decay_ms,
                self.country_min_sends,
                round(self.country_min_conversion * 1000),
            )
        )
