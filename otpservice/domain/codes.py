"""One-time codes: generation, and keyed argon2id hashing bound to a verification.

The stored value is argon2id over HMAC-SHA256(OTP_SECRET, id | purpose | code): without
the server secret a leaked Redis dump cannot be brute-forced offline, and a hash copied
to another verification or purpose does not verify there.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class HashPreset(msgspec.Struct, frozen=True):
    memory_kib: int
    time_cost: int
    parallelism: int


# OWASP's argon2id minimum (19 MiB, t=2, p=1) is the production floor.
PRESETS: dict[str, HashPreset] = {
    "owasp": HashPreset(memory_kib=19_456, time_cost=2, parallelism=1),
    "strong": HashPreset(memory_kib=47_104, time_cost=1, parallelism=1),
    # Deliberately cheap, for tests and the memory benchmark only.
    "test": HashPreset(memory_kib=64, time_cost=1, parallelism=1),
}


def generate_code(length: int) -> str:
    """A uniformly random string of ``length`` decimal digits, leading zeros kept."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def is_code_shape(code: str, length: int) -> bool:
    return len(code) == length and code.isascii() and code.isdigit()


# Every argon2id hash this service makes starts with this; it is left out of the stored
# value so that the value stays within Redis's listpack limit for hash fields (64 bytes
# by default): a verification hash then takes ~400 bytes instead of ~1,080 (bench/).
PHC_PREFIX = "$argon2id$v=19$"


class CodeHasher:
    """Hashes and verifies codes. CPU-heavy: call from a worker thread, not the event loop.

    ``hash`` returns the PHC string without its constant ``$argon2id$v=19$`` prefix
    (``m=19456,t=2,p=1$<salt>$<hash>``); ``matches`` accepts that and full PHC strings."""

    def __init__(self, secret: bytes, preset: HashPreset) -> None:
        self._secret = secret
        self._hasher = PasswordHasher(
            time_cost=preset.time_cost,
            memory_cost=preset.memory_kib,
            parallelism=preset.parallelism,
            hash_len=16,
            salt_len=16,
            type=Type.ID,
        )

    def _keyed(self, verification_id: str, purpose: str, code: str) -> bytes:
        message = f"{verification_id}\x1f{purpose}\x1f{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def hash(self, verification_id: str, purpose: str, code: str) -> str:
        full = self._hasher.hash(self._keyed(verification_id, purpose, code))
        return full.removeprefix(PHC_PREFIX)

    def matches(self, stored: str, verification_id: str, purpose: str, code: str) -> bool:
        """True only for the right code; argon2 compares in constant time."""
        full = stored if stored.startswith("$") else PHC_PREFIX + stored
        try:
            return self._hasher.verify(full, self._keyed(verification_id, purpose, code))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
