"""The API's callers: client keys (only their digests are kept), each client's test numbers,
WebOTP domain and app hash, read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from otpservice.domain.codes import is_code_shape
from otpservice.domain.phone import parse_phone
from otpservice.env_values import ConfigError, env_pairs, key_digest
from otpservice.errors import InvalidPhone

CLIENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ClientKey(msgspec.Struct, frozen=True):
    """A caller of the API. Only the SHA-256 of its key is kept in memory."""

    name: str
    digest: bytes
    admin: bool = False
    test_numbers: Mapping[str, str] = msgspec.field(default_factory=dict)  # E.164 -> code
    webotp_domain: str | None = None
    app_hash: str | None = None


def load_clients(env: Mapping[str, str], code_length: int, region: str) -> tuple[ClientKey, ...]:
    """OTP_API_KEYS and OTP_ADMIN_API_KEYS, with each client's test numbers (codes of
    ``code_length`` digits, numbers read in ``region``), WebOTP domain and app hash."""
    tests: dict[str, dict[str, str]] = {}
    for left, code in env_pairs(env, "OTP_TEST_NUMBERS"):
        name, sep, number = left.partition(":")
        if not sep:
            raise ConfigError("OTP_TEST_NUMBERS: each entry must look like client:+number=code")
        if not is_code_shape(code, code_length):
            raise ConfigError(f"OTP_TEST_NUMBERS: codes must be {code_length} digits")
        try:
            e164 = parse_phone(number, region).e164
        except InvalidPhone as exc:
            raise ConfigError("OTP_TEST_NUMBERS: a number is not a valid mobile number") from exc
        tests.setdefault(name, {})[e164] = code
    domains = dict(env_pairs(env, "OTP_CLIENT_WEBOTP_DOMAINS"))
    hashes = dict(env_pairs(env, "OTP_CLIENT_APP_HASHES"))
    clients: list[ClientKey] = []
    seen: set[str] = set()
    digests: set[bytes] = set()
    for var, admin in (("OTP_API_KEYS", False), ("OTP_ADMIN_API_KEYS", True)):
        for name, spec in env_pairs(env, var):
            if not CLIENT_NAME.match(name):
                raise ConfigError(f"{var}: client names use letters, digits, '_' and '-'")
            if name in seen:
                raise ConfigError(f"{var}: client name '{name}' appears twice")
            seen.add(name)
            try:
                digest = key_digest(spec)
            except ConfigError as exc:
                raise ConfigError(f"{var}: {exc}") from exc
            if digest in digests:
                # Authentication would take whichever entry it met first: one key is one
                # client, so a key listed as a client and as an admin is refused.
                raise ConfigError(f"{var}: a key is listed twice (OTP_API_KEYS/OTP_ADMIN_API_KEYS)")
            digests.add(digest)
            clients.append(
                ClientKey(
                    name=name,
                    digest=digest,
                    admin=admin,
                    test_numbers=tests.get(name, {}),
                    webotp_domain=domains.get(name),
                    app_hash=hashes.get(name),
                )
            )
    unknown = (set(tests) | set(domains) | set(hashes)) - seen
    if unknown:
        raise ConfigError("OTP_TEST_NUMBERS/OTP_CLIENT_*: names a client that has no key")
    return tuple(clients)
