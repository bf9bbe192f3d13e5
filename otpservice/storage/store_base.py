"""What every part of the Redis store shares: the script runner, the policy snapshot the
scripts' arguments come from, and how replies and keys are spelled."""

from __future__ import annotations

import time
from typing import Any

from otpservice.domain.models import VerificationRef
from otpservice.errors import NotFoundReason
from otpservice.guard.settings import GuardSettings
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS, refusals_ttl_ms, utc_day
from otpservice.storage.record import text
from otpservice.storage.scripts import AnyRedis, ScriptRunner
from otpservice.storage.shared_plan import SharedPlan
from otpservice.throttling.policies import Limits
from otpservice.throttling.shares import BudgetShares


def seconds_of(ms: Any) -> float:
    """A script's milliseconds (never negative) as seconds."""
    return max(float(text(ms)), 0.0) / 1000.0


def public_head(ref: VerificationRef) -> str:
    """The public id's first 32 hex digits (tag + slot): scripts append the rid's hex."""
    return ref.tag + ref.slot


def not_found_reason(value: str) -> NotFoundReason:
    try:
        return NotFoundReason(value)
    except ValueError:
        return NotFoundReason.UNKNOWN


class StoreBase:
    """The state the store's scripts read their arguments from; storage/scripts.py runs
    them (Redis errors become StorageUnavailable: the API answers 503)."""

    def __init__(
        self,
        redis: AnyRedis,
        limits: Limits,
        *,
        code_ttl_seconds: int,
        max_checks: int,
        max_sends: int,
        resend_cooldown_seconds: int,
        idempotency_ttl_seconds: int,
        accept_previous_code: bool = True,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
        shares: BudgetShares | None = None,
        guard: GuardSettings | None = None,
        events: bool = True,
        history_days: int = 7,
    ) -> None:
        self.redis = redis
        self._ttl_ms = code_ttl_seconds * 1000
        self._idem_ttl_ms = idempotency_ttl_seconds * 1000
        self._accept_previous = "1" if accept_previous_code else "0"
        self._history_ms = history_days * DAY_MS
        self.apply_policy(
            limits,
            shares or BudgetShares(),
            guard or GuardSettings(),
            max_checks=max_checks,
            max_sends=max_sends,
            resend_cooldown_seconds=resend_cooldown_seconds,
        )
        self.scripts = ScriptRunner(
            redis, events=events, wait_replicas=wait_replicas, wait_timeout_ms=wait_timeout_ms
        )

    async def ping(self) -> bool:
        """Ready: Redis answers and every script is loaded (a restarted Redis gets them)."""
        return await self.scripts.ping()

    def apply_policy(
        self,
        limits: Limits,
        shares: BudgetShares,
        guard: GuardSettings,
        *,
        max_checks: int,
        max_sends: int,
        resend_cooldown_seconds: int,
    ) -> None:
        """Take a new policy snapshot (at start, and when a runtime change arrives): one
        attribute swap, so a request in flight sees either the old policy or the new one."""
        self.limits = limits
        self._max_checks = max_checks
        self._max_sends = max_sends
        self._cooldown_seconds = resend_cooldown_seconds
        self.plan = SharedPlan(limits, shares, guard)

    def _refusals_ttl_ms(self) -> int:
        return refusals_ttl_ms(self._history_ms)

    def _refusals_key(self, tag: str) -> str:
        return keys.refusals_day(keys.partition_of(tag), utc_day(int(time.time() * 1000)))
