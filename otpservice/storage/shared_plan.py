"""The send's shared step, laid out: which counters and guard keys shared_reserve.lua gets,
in which order, with which limits — from one policy snapshot (rebuilt when it changes)."""

from __future__ import annotations

import functools

from otpservice.domain.ports import SendTarget
from otpservice.guard.settings import GuardMode, GuardSettings
from otpservice.storage import keys
from otpservice.throttling.policies import Limits, Quota
from otpservice.throttling.shares import SHARED_SPEND, BudgetShares, share_limit

RATE_KEY_POLICY = "rate_limit_key"


class SharedPlan:
    def __init__(self, limits: Limits, shares: BudgetShares, guard: GuardSettings) -> None:
        self.limits = limits
        self.shares = shares
        self.guard = guard
        self.guard_spec = guard.spec()

    def _row(self, quota: Quota, policy: str, *, spend: bool, share: float = 1.0) -> str:
        limit = share_limit(quota.limit, share) if share < 1 else quota.limit
        fresh = self.shares.fresh(limit) if spend else limit
        period = self.limits.ms(quota.period)
        return f"{limit},{fresh},{period},{1 if spend else 0},{policy}"

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one plan per policy snapshot, few clients
    def _base(self, client: str, with_ip: bool, v6: bool) -> tuple[tuple[str, str, str], ...]:
        """(policy, subject kind, row) in key order, without the caller-defined keys."""
        lim = self.limits
        rows: list[tuple[str, str, str]] = []
        if with_ip:
            rows.append(("ip_hour", "ip", self._row(lim.ip_hour, "ip_hour", spend=False)))
            rows.append(
                ("ip_net_hour", "net", self._row(lim.ip_net_hour, "ip_net_hour", spend=False))
            )
        if with_ip and v6:
            # An IPv6 /48 is one customer: its 65,536 /64s share one budget.
            row = self._row(lim.ip_net48_hour, "ip_net48_hour", spend=False)
            rows.append(("ip_net48_hour", "site", row))
        rows.append(
            ("client_minute", "client", self._row(lim.client_minute, "client_minute", spend=False))
        )
        rows.append(("", "rate_keys", ""))
        share = self.shares.share_of(client)
        if share < 1:
            for policy in SHARED_SPEND:
                quota: Quota = getattr(lim, policy)
                named = f"client_{policy}"
                subject = "client_country" if policy.startswith("country") else "client_all"
                rows.append((named, subject, self._row(quota, named, spend=True, share=share)))
        for policy, subject in (
            ("country_hour", "country"),
            ("country_day", "country"),
            ("prefix_hour", "prefix"),
            ("prefix_day", "prefix"),
            ("global_minute", "all"),
            ("global_day", "all"),
        ):
            quota = getattr(lim, policy)
            rows.append((policy, subject, self._row(quota, policy, spend=policy in SHARED_SPEND)))
        return tuple(rows)

    def budgets(self, t: SendTarget) -> tuple[tuple[str, ...], str]:
        """The budget counters' keys and the matching "limit,fresh,period,alert,policy;…"."""
        return self._budgets(
            t.client, t.ip, t.ip_net, t.requester.site, t.country, t.prefix, t.rate_keys
        )

    # A flood repeats its client, address and number: the keys are laid out once per
    # combination and policy snapshot, not per request (bounded; the plan is rebuilt, and
    # so the cache emptied, on every policy change).
    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one plan per policy snapshot
    def _budgets(
        self,
        client: str,
        ip: str | None,
        ip_net: str | None,
        site: str | None,
        country: str,
        prefix: str,
        rate_keys: tuple[tuple[str, str], ...],
    ) -> tuple[tuple[str, ...], str]:
        subjects = {
            "ip": ip or "",
            "net": ip_net or "",
            "site": site or "",
            "client": client,
            "country": country,
            "prefix": prefix,
            "all": "all",
            "client_country": f"{country}:{client}",
            "client_all": f"all:{client}",
        }
        budget_keys: list[str] = []
        rows: list[str] = []
        with_ip = ip is not None and ip_net is not None
        for policy, subject, row in self._base(client, with_ip, site is not None):
            if subject == "rate_keys":
                for name, value in rate_keys:
                    for quota in self.shares.key_budgets.get(name, ()):
                        budget_keys.append(keys.rate_key_budget(name, quota.period, value))
                        rows.append(
                            f"{quota.limit},{quota.limit},{self.limits.ms(quota.period)},0,"
                            f"{RATE_KEY_POLICY}:{name}"
                        )
                continue
            budget_keys.append(keys.budget(policy, subjects[subject]))
            rows.append(row)
        return tuple(budget_keys), ";".join(rows)

    def guard_keys(self, t: SendTarget) -> tuple[str, ...]:
        """shared_reserve's guard keys, in guard.lua's order."""
        return _guard_keys(t.prefix, t.country, t.tag)

    def judges(self, t: SendTarget) -> bool:
        return self.guard.mode is not GuardMode.OFF and not self.guard.is_safe(t.e164[1:])


@functools.lru_cache(maxsize=4096)
def _guard_keys(p: str, c: str, tag: str) -> tuple[str, ...]:
    return (
        keys.guard_prefix("b", p),
        keys.guard_prefix("k", p),
        keys.guard_prefix("s", p),
        keys.guard_prefix("a", p),
        keys.guard_country("b", c),
        keys.guard_country("k", c),
        keys.guard_country("s", c),
        keys.guard_country("a", c),
        keys.returning(tag),
        keys.guard_prefix("m", p),
        keys.guard_country("x", c),
        keys.GUARD_BUDGET_ALERTS,
        keys.GUARD_BLOCKS,
        keys.SHARED_EVENTS,
    )
