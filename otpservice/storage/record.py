"""How a verification is stored: one MessagePack array (storage/lua/verification.lua
defines its fields and writes it; this module reads its fields back), with the 128-bit id
and the code hash in binary rather than as text."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from otpservice.domain.models import Status, Verification, VerificationRef


def text(value: Any) -> str:
    """A Redis reply value as text (replies are bytes; Lua numbers arrive as ints)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def verification_of(fields: Sequence[Any], ref: VerificationRef) -> Verification:
    """A verification from its record's fields, in verification.lua's order."""
    (rid, client, phone, purpose, locale, status, _hash, sends, max_sends, attempts) = fields[:10]
    (expires, resend_at, created, sms_id, test) = fields[10:15]
    return Verification(
        id=VerificationRef(ref.tag, ref.slot, rid_hex(rid)).id,
        client=text(client),
        phone=text(phone),
        purpose=text(purpose),
        locale=text(locale),
        status=Status(text(status)),
        created_at=int(created) / 1000,
        expires_at=int(expires) / 1000,
        resend_available_at=int(resend_at) / 1000,
        sends=int(sends),
        max_sends=int(max_sends),
        attempts_remaining=int(attempts),
        sms_id=text(sms_id),
        test=int(test) == 1,
    )


# Stored compactly: a 128-bit rid as 16 bytes, a code hash as its argon2 parameters, salt
# and digest in binary rather than the 61-character text the hasher gives.
def rid_bytes(rid: str) -> bytes:
    return bytes.fromhex(rid) if rid else b""


def rid_hex(raw: Any) -> str:
    return bytes(raw).hex() if isinstance(raw, bytes) else text(raw)


_HASH_HEAD = struct.Struct(">IHHB")  # memory KiB, time cost, parallelism, salt length


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).rstrip(b"=").decode()


def pack_code_hash(compact: str) -> bytes:
    """``m=19456,t=2,p=1$<salt>$<digest>`` (the hasher's form) to its binary record form."""
    params, salt, digest = compact.split("$")
    memory, time_cost, lanes = (int(part.split("=", 1)[1]) for part in params.split(","))
    raw_salt = _b64decode(salt)
    head = _HASH_HEAD.pack(memory, time_cost, lanes, len(raw_salt))
    return head + raw_salt + _b64decode(digest)


def unpack_code_hash(packed: bytes) -> str:
    memory, time_cost, lanes, salt_len = _HASH_HEAD.unpack_from(packed)
    body = packed[_HASH_HEAD.size :]
    salt, digest = body[:salt_len], body[salt_len:]
    return f"m={memory},t={time_cost},p={lanes}${_b64encode(salt)}${_b64encode(digest)}"
