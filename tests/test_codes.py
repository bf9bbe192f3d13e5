"""Codes: uniform digits with leading zeros, and hashes bound to the secret, id and purpose."""

from __future__ import annotations

from collections import Counter

from otpservice.domain.codes import PRESETS, CodeHasher, generate_code, is_code_shape
from otpservice.domain.messages import compose

# Chi-square critical value for 9 degrees of freedom at p = 0.001.
CHI2_9_DF_P001 = 27.877


def test_local_codes_are_uniform_per_position_over_100k() -> None:
    codes = [generate_code(6) for _ in range(100_000)]
    assert all(is_code_shape(c, 6) for c in codes)
    assert any(c.startswith("0") for c in codes), "leading zeros must occur"
    expected = len(codes) / 10
    for position in range(6):
        counts = Counter(c[position] for c in codes)
        chi2 = sum((counts[d] - expected) ** 2 / expected for d in "0123456789")
        assert chi2 < CHI2_9_DF_P001, f"position {position}: chi2={chi2:.1f}"


def test_hash_verifies_only_the_right_code_for_the_same_verification_and_purpose() -> None:
    hasher = CodeHasher(b"k" * 32, PRESETS["test"])
    stored = hasher.hash("vid-1", "login", "012345")
    assert "012345" not in stored
    assert hasher.matches(stored, "vid-1", "login", "012345")
    assert not hasher.matches(stored, "vid-1", "login", "012346")
    assert not hasher.matches(stored, "vid-2", "login", "012345")
    assert not hasher.matches(stored, "vid-1", "signup", "012345")
    other_secret = CodeHasher(b"x" * 32, PRESETS["test"])
    assert not other_secret.matches(stored, "vid-1", "login", "012345")


def test_production_preset_meets_owasp_minimum() -> None:
    owasp = PRESETS["owasp"]
    assert owasp.memory_kib >= 19 * 1024 and owasp.time_cost >= 2 and owasp.parallelism >= 1


def test_message_puts_webotp_line_last_and_includes_app_hash() -> None:
    text = compose(
        "Code {code}, valid {minutes} min",
        "123456",
        minutes=5,
        webotp_domain="example.com",
        app_hash="FA+9qCX9VSu",
    )
    assert text.splitlines()[0] == "Code 123456, valid 5 min"
    assert "FA+9qCX9VSu" in text
    assert text.splitlines()[-1] == "@example.com #123456"


def test_stored_hash_is_compact_and_full_phc_strings_still_verify() -> None:
    """Stored without the constant '$argon2id$v=19$' prefix: at most 64 bytes, so that
    Redis keeps a verification as a listpack (bench/RESULTS.md, target 4)."""
    from argon2 import PasswordHasher

    from otpservice.domain.codes import PHC_PREFIX

    for name in ("owasp", "strong"):
        preset = PRESETS[name]
        hasher = CodeHasher(b"k" * 32, preset)
        stored = hasher.hash("vid-1", "login", "012345")
        assert not stored.startswith("$") and len(stored) <= 64
        assert hasher.matches(stored, "vid-1", "login", "012345")
        assert hasher.matches(PHC_PREFIX + stored, "vid-1", "login", "012345")
        assert not hasher.matches(stored, "vid-1", "login", "012346")
    assert PasswordHasher().hash("x").startswith(PHC_PREFIX)
