"""Named throttling policies. Enforcement lives in the Redis scripts (storage/lua)."""

from otpservice.throttling.policies import CheckBackoff, Limits, PrefixBurst, Quota

__all__ = ["CheckBackoff", "Limits", "PrefixBurst", "Quota"]
