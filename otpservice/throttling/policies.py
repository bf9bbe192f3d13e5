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
    daily_failures: int = 100  # per phone, all networks but the one with the reserved share
    test_daily_failures: int = 10  # per test number (fixed code), every network


class Limits(msgspec.Struct, frozen=True):
    """All send budgets. Defaults follow the project's decisions (DECISIONS.md 7) and, for
    the per-number shares, issue 13 ("the person must never be locked out")."""

    # Per number: the ceiling everyone shares, each requester network's share of it, and the
    # share reserved for the network or device that last approved on the number.
    phone_10m: Quota = Quota(3, 600)
    phone_24h: Quota = Quota(10, 86_400)
    phone_net_10m: Quota = Quota(3, 600)
    phone_net_24h: Quota = Quota(5, 86_400)
    phone_reserved_10m: Quota = Quota(3, 600)
    phone_reserved_24h: Quota = Quota(10, 86_400)
    test_number_day: Quota = Quota(20, 86_400)  # sends to one test number
    ip_hour: Quota = Quota(10, 3600)
    ip_net_hour: Quota = Quota(30, 3600)
    ip_net48_hour: Quota = Quota(60, 3600)
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
    # Multiplies every window, block, cooldown and delay: 1 in production; a drill or a test
    # replays a day in seconds with e.g. 1/3600.
    period_scale: float = 1.0
    # How long an approval keeps its network and device entitled to the reserved share.
    trust_seconds: int = 30 * 86_400

    def ms(self, seconds: float) -> int:
        """A throttling period in Redis milliseconds, scaled (never 0 unless asked for 0)."""
        if seconds <= 0:
            return 0
        return max(1, round(seconds * 1000 * self.period_scale))


# Environment variable -> (field, what it sets). Counts only; periods are part of the name.
QUOTA_ENV: dict[str, str] = {
    "OTP_LIMIT_PHONE_10M": "phone_10m",
    "OTP_LIMIT_PHONE_24H": "phone_24h",
    "OTP_LIMIT_PHONE_NET_10M": "phone_net_10m",
    "OTP_LIMIT_PHONE_NET_24H": "phone_net_24h",
    "OTP_LIMIT_PHONE_RESERVED_10M": "phone_reserved_10m",
    "OTP_LIMIT_PHONE_RESERVED_24H": "phone_reserved_24h",
    "OTP_LIMIT_TEST_NUMBER_DAY": "test_number_day",
    "OTP_LIMIT_IP_HOUR": "ip_hour",
    "OTP_LIMIT_IP_NET_HOUR": "ip_net_hour",
    "OTP_LIMIT_IP_NET48_HOUR": "ip_net48_hour",
    "OTP_LIMIT_CLIENT_MINUTE": "client_minute",
    "OTP_LIMIT_COUNTRY_HOUR": "country_hour",
    "OTP_LIMIT_COUNTRY_DAY": "country_day",
    "OTP_LIMIT_PREFIX_HOUR": "prefix_hour",
    "OTP_LIMIT_PREFIX_DAY": "prefix_day",
    "OTP_LIMIT_GLOBAL_MINUTE": "global_minute",
    "OTP_LIMIT_GLOBAL_DAY": "global_day",
}
