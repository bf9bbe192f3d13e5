"""What the domain reports as it works. Metrics implement this; the default does nothing."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def send(self, outcome: str, result_code: str | None) -> None: ...

    def check(self, outcome: str) -> None: ...

    def refused(self, policy: str) -> None: ...

    def prefix_blocked(self) -> None: ...

    def guard(self, kind: str) -> None:
        """guard_blocked, country_blocked, monitor_blocked (would-be), country_alert."""
        ...

    def budget_exhausted(self, policy: str) -> None: ...

    def provider_call(self, operation: str, seconds: float) -> None: ...


class NoTelemetry:
    def send(self, outcome: str, result_code: str | None) -> None:
        return None

    def check(self, outcome: str) -> None:
        return None

    def refused(self, policy: str) -> None:
        return None

    def prefix_blocked(self) -> None:
        return None

    def guard(self, kind: str) -> None:
        return None

    def budget_exhausted(self, policy: str) -> None:
        return None

    def provider_call(self, operation: str, seconds: float) -> None:
        return None
