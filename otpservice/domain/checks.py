"""Checking a code: an attempt is taken before any hashing, the hash is verified off the
event loop, and a right code is approved with compare-and-set (a wrong one on the last
attempt ends the verification)."""

from __future__ import annotations

import secrets

import structlog

from otpservice.config import ClientKey, Settings
from otpservice.domain.codes import CodeHasher, is_code_shape
from otpservice.domain.hash_threads import HashThreads
from otpservice.domain.models import CheckResult, Status, VerificationRef
from otpservice.domain.phone import from_e164
from otpservice.domain.ports import Attempt, ConversionCounter, ScriptCall, VerificationStore
from otpservice.domain.requester import Requester
from otpservice.domain.telemetry import Telemetry
from otpservice.errors import InvalidCode, RateLimited, VerificationNotFound

log = structlog.get_logger("otpservice.verification")


class Checks:
    """The check path of VerificationService (service.py), which finds the verification."""

    def __init__(
        self,
        settings: Settings,
        store: VerificationStore,
        telemetry: Telemetry,
        hasher: CodeHasher,
        hashing: HashThreads,
        conversions: ConversionCounter | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.telemetry = telemetry
        self.hasher = hasher
        self._hashing = hashing
        self.conversions = conversions

    async def check(
        self,
        client: ClientKey,
        ref: VerificationRef,
        code: str,
        who: Requester,
        code_length: int | None,
    ) -> CheckResult:
        length = code_length or self.settings.code_length
        if not is_code_shape(code, length):
            raise InvalidCode(f"The code must be {length} digits.")
        try:
            attempt = await self.store.reserve_attempt(ref, client.name, who, secrets.token_hex(8))
        except RateLimited as exc:
            self.telemetry.refused(exc.policy)
            self.telemetry.check("refused")
            raise
        except VerificationNotFound:
            self.telemetry.check("not_found")
            raise
        full = VerificationRef(ref.tag, ref.slot, attempt.rid)
        matched = await self._hashing.run(lambda: self._matching_hash(attempt, full.id, code))
        if matched is not None:
            try:
                left, converted = await self.store.approve(
                    ref, who, attempt, matched, self._conversion(ref.tag, attempt.phone)
                )
            except VerificationNotFound:
                self.telemetry.check("not_found")
                raise
            if converted is False:  # the approval stands; the guard misses one conversion
                log.warning("guard.approval_not_recorded", phone=from_e164(attempt.phone).masked)
            self.telemetry.check("approved")
            log.info("verification.approved", verification_id=full.id)
            return CheckResult(full.id, Status.APPROVED, True, left)
        # Every wrong code is recorded (check.failed); the last attempt also ends it.
        status = await self.store.reject(ref, attempt)
        if attempt.attempts_left > 0:
            status = Status.PENDING
        self.telemetry.check("wrong_code")
        log.info(
            "verification.wrong_code",
            verification_id=full.id,
            attempts_remaining=attempt.attempts_left,
        )
        return CheckResult(full.id, status, False, attempt.attempts_left)

    def _matching_hash(self, attempt: Attempt, verification_id: str, code: str) -> str | None:
        """The stored hash the code matches: the current code's first, then the previous
        one's (a late SMS after a resend). One attempt either way."""
        for stored in (attempt.code_hash, attempt.previous_hash):
            if stored is not None and self.hasher.matches(
                stored, verification_id, attempt.purpose, code
            ):
                return stored
        return None

    def _conversion(self, tag: str, e164: str) -> ScriptCall | None:
        """What tells the guard the number converted, made beside the approval: a right code
        proves the SMS reached the phone (bench/NOTES.md: one round trip fewer a check)."""
        if self.conversions is None or not e164:
            return None
        phone = from_e164(e164)
        prefix = phone.prefix(self.settings.limits.prefix_drop_digits)
        return self.conversions.approval_write(tag, phone.region, prefix)
