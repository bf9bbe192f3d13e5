"""Sending a code: refusing before it spends.

A send is reserve (shared budgets and idempotency, then per-phone budgets and a send lock)
-> provider -> commit the code's hash; any failure gives back what was reserved. Requests
carrying the same Idempotency-Key wait for the first one and get its answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Coroutine
from typing import Any

import msgspec
import structlog

from otpservice.config import ClientKey, Settings
from otpservice.domain.codes import CodeHasher, generate_code, is_code_shape
from otpservice.domain.hash_threads import HashThreads
from otpservice.domain.idempotency import FIRST_POLL_SECONDS, InFlightKeys
from otpservice.domain.messages import compose
from otpservice.domain.models import Verification, VerificationRef, new_rid, phone_tag, slot_of
from otpservice.domain.phone import Phone, mask_prefix, parse_phone
from otpservice.domain.ports import (
    CodeMessage,
    Lang,
    RefusalCounter,
    SendFailure,
    SendPacing,
    SendTarget,
    SentSms,
    SharedVerdict,
    SmsGateway,
    VerificationStore,
)
from otpservice.domain.requester import requester_of
from otpservice.domain.send_request import CreateRequest, SendOptions
from otpservice.domain.telemetry import Telemetry
from otpservice.errors import (
    CountryNotAllowed,
    IdempotencyConflict,
    IdempotencyInProgress,
    PrefixDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StorageUnavailable,
)

log = structlog.get_logger("otpservice.verification")
_root_log = logging.getLogger()  # its level is the configured one (observability/logging.py)


class Sends:
    """The send path of VerificationService (service.py), which owns its lifecycle."""

    def __init__(
        self,
        settings: Settings,
        store: VerificationStore,
        gateway: SmsGateway,
        telemetry: Telemetry,
        refusals: RefusalCounter | None,
        hasher: CodeHasher,
        hashing: HashThreads,
    ) -> None:
        self.settings = settings
        self.store = store
        self.gateway = gateway
        self.telemetry = telemetry
        self.refusals = refusals
        self.hasher = hasher
        self._hashing = hashing
        # A send lock outlives the slowest provider call and the hashing after it.
        self._lock_seconds = settings.longest_send_seconds + 15.0
        self._background: set[asyncio.Task[None]] = set()
        self._in_flight = InFlightKeys()

    def _target(self, client: ClientKey, request: CreateRequest) -> tuple[SendTarget, Phone]:
        s = self.settings
        phone = parse_phone(request.phone, s.default_region)  # bad input: no policy refusal
        if phone.region not in s.allowed_countries:
            self._refused_here(client, CountryNotAllowed.policy, phone.region or "")
            raise CountryNotAllowed(f"Sending to {phone.region or 'this country'} is not allowed.")
        digits = phone.digits
        if any(digits.startswith(p) for p in s.prefix_deny) or (
            s.prefix_allow and not any(digits.startswith(p) for p in s.prefix_allow)
        ):
            self._refused_here(client, PrefixDenied.policy, phone.region or "")
            raise PrefixDenied("Sending to this number is not allowed.")
        who = requester_of(request.client_ip, request.device_id, s.secret)
        target = SendTarget(
            client=client.name,
            e164=phone.e164,
            tag=phone_tag(s.secret, phone.e164),
            slot=slot_of(client.name, request.purpose, who.network),
            purpose=request.purpose,
            locale=request.locale,
            country=phone.region,
            prefix=phone.prefix(s.limits.prefix_drop_digits),
            ip=who.ip,
            ip_net=who.net,
            requester=who,
            exempt=phone.e164 in client.test_numbers,
            masked=phone.masked,
            rate_keys=request.rate_limit_keys,
        )
        return target, phone

    def _pacing(self, options: SendOptions) -> SendPacing | None:
        """The options' pacing over the settings; None when they change nothing."""
        chosen = (
            options.resend_cooldown_seconds,
            options.max_sends,
            options.phone_10m,
            options.phone_24h,
        )
        if all(value is None for value in chosen):
            return None
        s = self.settings
        defaults = (
            s.resend_cooldown_seconds,
            s.max_sends,
            s.limits.phone_10m.limit,
            s.limits.phone_24h.limit,
        )
        cooldown, max_sends, phone_10m, phone_24h = (
            default if value is None else value
            for value, default in zip(chosen, defaults, strict=True)
        )
        return SendPacing(cooldown, max_sends, phone_10m, phone_24h)

    @staticmethod
    def _fingerprint(target: SendTarget) -> str:
        fields: list[object] = [target.client, target.e164, target.purpose, target.locale]
        fields.append(target.ip)
        if target.requester.device:  # absent, the fingerprint of a request without one
            fields.append(target.requester.device)
        if target.rate_keys:  # absent keys keep the fingerprints of requests without them
            fields.append(target.rate_keys)
        canonical = msgspec.json.encode(fields)
        return hashlib.sha256(canonical).hexdigest()

    async def create(
        self,
        client: ClientKey,
        request: CreateRequest,
        idempotency_key: str | None = None,
        options: SendOptions | None = None,
    ) -> tuple[Verification, bool]:
        """Send a code (new verification or resend). Returns it and whether it was replayed."""
        options = options or SendOptions()
        ttl = options.ttl_seconds or self.settings.code_ttl_seconds
        target, phone = self._target(client, request)
        pacing = self._pacing(options)
        idem = (idempotency_key, self._fingerprint(target)) if idempotency_key else None
        if idempotency_key is None:
            return await self._send(client, target, phone, None, options, ttl, pacing)
        key = (client.name, idempotency_key)
        deadline = time.monotonic() + self.settings.longest_send_seconds
        interval = FIRST_POLL_SECONDS
        while True:
            shared = await self.store.reserve_shared(target, idem)
            if shared.kind != "in_progress":
                break
            if time.monotonic() >= deadline:
                raise IdempotencyInProgress("Retry once the first request has finished.")
            interval = await self._in_flight.wait(key, interval, deadline)
        with self._in_flight.running(key):
            return await self._send(client, target, phone, idem, options, ttl, pacing, shared)

    async def _send(
        self,
        client: ClientKey,
        target: SendTarget,
        phone: Phone,
        idem: tuple[str, str] | None,
        options: SendOptions,
        ttl: int,
        pacing: SendPacing | None,
        shared: SharedVerdict | None = None,
    ) -> tuple[Verification, bool]:
        """The send once idempotency has let it through: ``shared`` is the shared step's
        verdict when the caller already has it (it reserved under an Idempotency-Key)."""
        if shared is None:
            shared = await self.store.reserve_shared(target, idem)
        if shared.kind == "replay":
            assert shared.body is not None
            return msgspec.json.decode(shared.body, type=Verification), True
        if shared.kind == "conflict":
            raise IdempotencyConflict("This Idempotency-Key was used with a different request.")
        if shared.flag:
            self._note_guard(shared.flag, shared.policy, target, phone)
        if shared.kind == "limited":
            assert shared.policy is not None
            if shared.blocked_now:
                self.telemetry.prefix_blocked()
                log.warning(
                    "alert.prefix_blocked", prefix=mask_prefix(target.prefix), phone=phone.masked
                )
            return self._refuse(shared.policy, shared.retry_after, phone)
        added = (shared.added_member, shared.guard_added)

        token = secrets.token_hex(16)
        try:
            verdict = await self.store.reserve_phone(target, token, self._lock_seconds, pacing)
        except BaseException:
            await self._give_back(target, idem, added, definite=True)
            raise
        if verdict.kind == "limited":
            # The refusal answers after two round trips; the refund of step 1 follows it.
            self._spawn(self._give_back(target, idem, added, definite=True))
            assert verdict.policy is not None
            return self._refuse(verdict.policy, verdict.retry_after, phone)

        mode = verdict.kind
        rid = verdict.rid if mode == "resend" else new_rid()
        vid = VerificationRef(target.tag, target.slot, rid).id
        try:
            if options.link_rid:
                await self.store.link_rid(rid, vid, ttl + self._lock_seconds)
        except BaseException:
            await self._release(target, token, idem, added, definite=True)
            raise
        try:
            code_hash, sent = await self._deliver(
                client, target, phone, vid, options, verdict.undelivered_sms_id or None
            )
            verification = await self.store.commit_send(
                target,
                token,
                mode=mode,
                rid=rid,
                code_hash=code_hash,
                sms_id=sent.sms_id,
                ttl_seconds=ttl,
                parts=sent.parts,
                pacing=pacing,
            )
            if verification is None:
                raise StorageUnavailable("The send took too long to record; request a new code.")
        except ProviderError as exc:
            definite = not exc.may_have_sent
            failure = SendFailure(vid, mode, exc.code, exc.result_code, exc.may_have_sent)
            await self._release(target, token, idem, added, definite=definite, failure=failure)
            self.telemetry.send("failed", exc.result_code)
            log.warning(
                "verification.send_failed",
                phone=phone.masked,
                error=exc.code,
                result_code=exc.result_code,
                may_have_sent=exc.may_have_sent,
            )
            raise
        except BaseException:
            # Unknown whether the SMS left: keep the volume budgets counted (fail closed).
            await asyncio.shield(self._release(target, token, idem, added, definite=False))
            raise
        if idem is not None:
            await self.store.store_idempotent(target, idem, msgspec.json.encode(verification))
        self.telemetry.send("test" if target.exempt else "sent", None)
        log.info(
            "verification.sent",
            verification_id=verification.id,
            phone=phone.masked,
            purpose=target.purpose,
            resend=mode == "resend",
            sends=verification.sends,
            test_number=target.exempt,
        )
        return verification, False

    def _note_guard(self, flag: str, policy: str | None, target: SendTarget, phone: Phone) -> None:
        """What the shared step reported beside its verdict: blocks, would-be blocks,
        alerts. The events are already in the stream (same script); these are metrics
        and log lines."""
        for kind in flag.split("+"):
            if kind in {"blocked_now", "guard_settling"}:
                continue
            if kind == "budget_alert":
                self.telemetry.budget_exhausted(policy or "")
                log.warning("alert.budget_exhausted", policy=policy, client=target.client)
                continue
            self.telemetry.guard(kind)
            log.warning(
                f"alert.{kind}",
                prefix=mask_prefix(target.prefix),
                country=target.country,
                phone=phone.masked,
            )

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background refunds (at shutdown, and in tests that count budgets)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _refused_here(self, client: ClientKey, policy: str, country: str) -> None:
        """A refusal decided before any store call: the store's scripts count theirs in the
        same step; this one is counted in the metrics and, best effort, in the statistics."""
        self.telemetry.refused(policy)
        if self.refusals is not None:
            self.refusals.note(client.name, policy, country)

    def _refuse(self, policy: str, retry_after: float, phone: Phone) -> tuple[Verification, bool]:
        self.telemetry.refused(policy)
        # Debug only: the request line already names the policy, and a flood of refusals
        # should not double the log volume (nor pay for building a line nobody writes).
        if _root_log.isEnabledFor(logging.DEBUG):
            log.debug("verification.refused", policy=policy, phone=phone.masked)
        raise RateLimited(policy, retry_after)

    async def _give_back(
        self,
        target: SendTarget,
        idem: tuple[str, str] | None,
        added: tuple[bool, bool],
        *,
        definite: bool,
    ) -> None:
        """``added``: whether the send joined the burst rule's and the guard's numbers."""
        await self.store.refund_shared(
            target,
            idem,
            refund_budgets=definite,
            remove_member=definite and added[0],
            remove_guard_member=definite and added[1],
        )

    async def _release(
        self,
        target: SendTarget,
        token: str,
        idem: tuple[str, str] | None,
        added: tuple[bool, bool],
        *,
        definite: bool,
        failure: SendFailure | None = None,
    ) -> None:
        try:
            await self.store.release_phone(target, token, refund=definite, failure=failure)
        finally:
            await self._give_back(target, idem, added, definite=definite)

    async def _deliver(
        self,
        client: ClientKey,
        target: SendTarget,
        phone: Phone,
        vid: str,
        options: SendOptions,
        undelivered_sms_id: str | None = None,
    ) -> tuple[str, SentSms]:
        """Get a code to the phone; return its hash and what the provider said of the SMS."""
        s = self.settings
        lang = Lang(target.locale)
        length = options.code_length or s.code_length
        if target.exempt:
            code = client.test_numbers[phone.e164]
            sent = SentSms(sms_id="", parts=0)
        else:
            # Our own code and text are ready for wherever the gateway sends our text; a
            # provider that makes its own code answers with that one instead.
            local_code = generate_code(length)
            text = compose(
                options.template or s.templates[target.locale],
                local_code,
                minutes=math.ceil((options.ttl_seconds or s.code_ttl_seconds) / 60),
                webotp_domain=client.webotp_domain,
                app_hash=options.app_hash or client.app_hash,
            )
            message = CodeMessage(
                digits=length,
                lang=lang,
                local_code=local_code,
                text=text,
                verification_id=vid,
                country=target.country,
                undelivered_sms_id=undelivered_sms_id,
            )
            sent = await self.gateway.send_code(phone.digits, message)
            if sent.otp_code is None or not is_code_shape(sent.otp_code, length):
                # The SMS went out with something we cannot check: refuse, nothing pending.
                raise ProviderUnavailable(
                    "The provider returned a code of the wrong shape.", may_have_sent=True
                )
            code = sent.otp_code
            sent = SentSms(sms_id=sent.sms_id, parts=sent.parts)  # the code goes no further
        code_hash = await self._hashing.run(lambda: self.hasher.hash(vid, target.purpose, code))
        return code_hash, sent
