"""Who may spend the shared budgets: per-client shares, the returning customers' reserve,
and budgets on caller-defined rate-limit keys.

A country or global budget that one client key can spend for everyone is a login outage;
these make the shared budgets hold for the others."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from otpservice.throttling.policies import Quota

# The shared budgets that shares and the reserve apply to (their refusals are alerts).
SHARED_SPEND = ("country_hour", "country_day", "global_minute", "global_day")


class BudgetShares(msgspec.Struct, frozen=True, kw_only=True):
    default_client_share: float = 1.0  # fraction of each SHARED_SPEND budget per client key
    client_shares: Mapping[str, float] = msgspec.field(default_factory=dict)
    # Fraction of each SHARED_SPEND budget (and of each client's share) that only numbers
    # with a recent approval may use: fresh numbers stop short of it.
    reserved_share: float = 0.2
    # Caller-defined keys (`rate_limit_keys` on a create): name -> windows.
    key_budgets: Mapping[str, tuple[Quota, ...]] = msgspec.field(default_factory=dict)

    def share_of(self, client: str) -> float:
        return self.client_shares.get(client, self.default_client_share)

    def fresh(self, limit: int) -> int:
        """What fresh numbers may use of ``limit``; 0 stays off."""
        if limit <= 0:
            return limit
        return max(1, int(limit * (1 - self.reserved_share)))


def share_limit(limit: int, share: float) -> int:
    if limit <= 0:
        return limit
    return max(1, int(limit * share))
