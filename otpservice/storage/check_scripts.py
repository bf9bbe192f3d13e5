"""A check's scripts: reading a verification, reserving an attempt before the hash is
compared, then approving or rejecting it; and the status changes an API caller makes."""

from __future__ import annotations

from typing import Any

from otpservice.domain.models import Status, Verification, VerificationRef
from otpservice.domain.ports import Attempt, ScriptCall
from otpservice.domain.requester import Requester
from otpservice.errors import RateLimited, VerificationNotFound
from otpservice.storage import keys
from otpservice.storage.record import (
    pack_code_hash,
    rid_bytes,
    rid_hex,
    text,
    unpack_code_hash,
    verification_of,
)
from otpservice.storage.store_base import (
    StoreBase,
    not_found_reason,
    public_head,
    seconds_of,
)
from otpservice.throttling.policies import CheckBackoff


def _reserved(reply: Any) -> bool:
    return text(reply[0]) == "ok"


def _approved(reply: Any) -> bool:
    return text(reply[0]) == "approved"


class CheckScripts(StoreBase):
    """The check's side of the store."""

    async def load(self, ref: VerificationRef) -> Verification | None:
        fields = await self.scripts.run("verification_load", [keys.verification(ref)], [])
        if not fields:
            return None
        found = verification_of(fields, ref)
        if ref.rid and VerificationRef.parse(found.id).rid != ref.rid:
            return None
        return found

    async def reserve_attempt(
        self, ref: VerificationRef, client: str, who: Requester, token: str
    ) -> Attempt:
        back: CheckBackoff = self.limits.check_backoff
        reply = await self.scripts.run(
            "check_reserve",
            [
                keys.verification(ref),
                keys.failure_streak(ref.tag, who.network),
                keys.failures_day(ref.tag),
                keys.trusted(ref.tag),
                self._refusals_key(ref.tag),
            ],
            [
                client,
                rid_bytes(ref.rid),
                token,
                back.free_failures,
                self.limits.ms(back.base_seconds),
                self.limits.ms(back.cap_seconds),
                back.daily_failures,
                who.network,
                who.device,
                back.test_daily_failures,
                self.limits.ms(86_400),
                self._refusals_ttl_ms(),
            ],
            _reserved,
        )
        kind = text(reply[0])
        if kind == "ok":
            return Attempt(
                rid=rid_hex(reply[1]),
                code_hash=unpack_code_hash(bytes(reply[2])),
                attempts_left=int(text(reply[3])),
                purpose=text(reply[4]),
                token=token,
                previous_hash=unpack_code_hash(bytes(reply[5])) if reply[5] else None,
                phone=text(reply[6]),
            )
        if kind == "limited":
            raise RateLimited(text(reply[1]), seconds_of(reply[2]))
        raise VerificationNotFound(not_found_reason(text(reply[1])))

    async def approve(
        self,
        ref: VerificationRef,
        who: Requester,
        attempt: Attempt,
        matched_hash: str,
        beside: ScriptCall | None = None,
    ) -> tuple[int, bool | None]:
        """Approve; returns the attempts left and whether ``beside`` was written (None: no
        write beside)."""
        full = VerificationRef(ref.tag, ref.slot, attempt.rid)
        keys_ = [
            keys.verification(full),
            keys.failure_streak(ref.tag, who.network),
            keys.failures_day(ref.tag),
            keys.phone_events(ref.tag),
            keys.trusted(ref.tag),
        ]
        args = [
            rid_bytes(attempt.rid),
            pack_code_hash(matched_hash),
            attempt.token,
            public_head(ref),
            who.network,
            who.device,
            self.limits.trust_seconds * 1000,
        ]
        written: bool | None = None
        if beside is None:
            reply = await self.scripts.run("check_approve", keys_, args, _approved)
        else:
            reply, written = await self.scripts.run_beside(
                "check_approve", keys_, args, _approved, beside
            )
        if text(reply[0]) != "approved":
            raise VerificationNotFound(not_found_reason(text(reply[1])))
        return int(text(reply[1])), written

    async def reject(self, ref: VerificationRef, attempt: Attempt) -> Status:
        full = VerificationRef(ref.tag, ref.slot, attempt.rid)
        reply = await self.scripts.run(
            "check_reject",
            [keys.verification(full), keys.phone_events(ref.tag)],
            [rid_bytes(attempt.rid), attempt.attempts_left, public_head(ref)],
        )
        status = text(reply)
        return Status(status) if status in Status._value2member_map_ else Status.PENDING

    async def set_status(self, ref: VerificationRef, client: str, status: Status) -> None:
        reply = await self.scripts.run(
            "set_status",
            [keys.verification(ref), keys.phone_events(ref.tag)],
            [client, rid_bytes(ref.rid), status.value, public_head(ref)],
        )
        if text(reply[0]) != "ok":
            raise VerificationNotFound(not_found_reason(text(reply[1])))
