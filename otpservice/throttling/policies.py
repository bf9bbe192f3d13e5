"""Every throttling policy, its default, and the environment variable that changes it.

Send budgets are counted in Redis by the send scripts; nothing here touches Redis.
A policy's ``name`` is what a 429 reports in its ``policy`` field.
"""

from __future__ import annotations

import msgspec


class Quota(msgspec.Struct, frozen=True):
    """At most ``limit`` events per ``period`` seconds; 0 turns the policy off."""

    limit: int
    period: int


class PrefixBurst(msgspec.Struct, frozen=True):
    """SMS-pumping guard: ``numbers`` different numbers under one prefix within
    ``window`` seconds block the prefix for ``block`` seconds."""

    numbers: int = 10
    window: int = 600
    block: int = 3600


class CheckBackoff(msgspec.Struct, frozen=True):
    """Escalating delay after consecutive failed checks, and the daily failure cap."""

    free_failures: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 3600.0
    daily_failures: int = 100


class Limits(msgspec.Struct, frozen=True):
    """All send budgets. Defaults follow the project's decisions (DECISIONS.md 7)."""

    phone_10m: Quota = Quota(3, 600)
    phone_24h: Quota = Quota(10, 86_400)
    ip_hour: Quota = Quota(10, 3600)
    ip_net_hour: Quota = Quota(30, 3600)
    client_minute: Quota = Quota(120, 60)
    country_hour: Quota = Quota(1000, 3600)
    country_day: Quota = Quota(10_000, 86_400)
    prefix_hour: Quota = Quota(20, 3600)
    prefix_day: Quota = Quota(100, 86_400)
    global_minute: Quota = Quota(300, 60)
    global_day: Quota = Quota(20_000, 86_400)
    prefix_burst: PrefixBurst = PrefixBurst()
    prefix_drop_digits: int = 4
    check_backoff: CheckBackoff = CheckBackoff()


# Environment variable -> (field, what it sets). Counts only; periods are part of the name.
QUOTA_ENV: dict[str, str] = {
    "OTP_LIMIT_PHONE_10M": "phone_10m",
    "OTP_LIMIT_PHONE_24H": "phone_24h",
    "OTP_LIMIT_IP_HOUR": "ip_hour",
    "OTP_LIMIT_IP_NET_HOUR": "ip_net_hour",
    "OTP_LIMIT_CLIENT_MINUTE": "client_minute",
    "OTP_LIMIT_COUNTRY_HOUR": "country_hour",
    "OTP_LIMIT_COUNTRY_DAY": "country_day",
    "OTP_LIMIT_PREFIX_HOUR": "prefix_hour",
    "OTP_LIMIT_PREFIX_DAY": "prefix_day",
    "OTP_LIMIT_GLOBAL_MINUTE": "global_minute",
    "OTP_LIMIT_GLOBAL_DAY": "global_day",
}
