"""Configuration that parses but must not run in production, and provider URLs that are not
URLs at all.

``load_settings`` refuses each finding with one line that names the setting (never its
value), unless the service runs under ``otpservice dev`` or with ``OTP_ALLOW_INSECURE=1``,
which logs a warning naming them at every start. Each check says why it exists.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from otpservice.domain.codes import PRESETS, HashPreset

# OWASP's argon2id minimums: 7 MiB at t=5 up to 46 MiB at t=1, each about m*t >= 35,840.
MIN_ARGON2_MEMORY_KIB = 7_168
MIN_ARGON2_MEMORY_X_TIME = 35_840
# A secret's strength estimated from its own characters (length x their Shannon entropy):
# 20,000 random 32-character hex strings (128 random bits) scored 91 at the least, 115 on
# average; 32 identical characters score 0, "test-secret-" and 40 x's 70.
MIN_SECRET_BITS = 80


def estimated_bits(secret: str) -> float:
    """Length times the entropy of the secret's character frequencies, in bits."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return n * per_char


def provider_url_problem(setting: str, url: str) -> str | None:
    """Why a provider URL cannot be used at all (any mode), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return f"{setting} is not a URL"
    if parts.scheme not in {"http", "https"} or not parts.hostname or any(c.isspace() for c in url):
        return f"{setting} must be an http(s) URL such as https://host/api/v3"
    return None


def insecure_findings(
    *,
    secret: str,
    preset_name: str,
    preset: HashPreset,
    provider_urls: Sequence[tuple[str, str]],
) -> list[str]:
    """One line per development-only setting in use, each naming its setting."""
    found: list[str] = []
    if preset_name == "test" or preset == PRESETS["test"]:
        found.append("OTP_HASH_PRESET=test is the cheap hashing meant for tests")
    elif (
        preset.memory_kib < MIN_ARGON2_MEMORY_KIB
        or preset.memory_kib * preset.time_cost < MIN_ARGON2_MEMORY_X_TIME
    ):
        found.append(
            "OTP_ARGON2_MEMORY_KIB with OTP_ARGON2_TIME_COST is below OWASP's argon2id "
            f"minimum (at least {MIN_ARGON2_MEMORY_KIB} KiB and memory x time >= "
            f"{MIN_ARGON2_MEMORY_X_TIME})"
        )
    if secret and estimated_bits(secret) < MIN_SECRET_BITS:
        found.append(
            "OTP_SECRET is too repetitive to be random (generate one: openssl rand -base64 48)"
        )
    for setting, url in provider_urls:
        if urlsplit(url).scheme == "http":
            found.append(f"{setting} is plain http: keys and codes would travel in clear")
    return found
