"""The VerificationStore port on Redis: every read-modify-write is one Lua script.

The store is three parts over one shared state (store_base.py): the send's shared budgets
(shared_budgets.py), the phone's send scripts (here), and the check's (check_scripts.py)."""

from __future__ import annotations

from typing import Any

from otpservice.config import Settings
from otpservice.domain.models import Verification, VerificationRef
from otpservice.domain.ports import PhoneVerdict, SendFailure, SendPacing, SendTarget
from otpservice.storage import keys
from otpservice.storage.check_scripts import CheckScripts
from otpservice.storage.record import pack_code_hash, rid_bytes, rid_hex, text, verification_of
from otpservice.storage.scripts import AnyRedis
from otpservice.storage.shared_budgets import SharedBudgetScripts
from otpservice.storage.store_base import public_head, seconds_of


class RedisStore(SharedBudgetScripts, CheckScripts):
    """Says which script runs with which keys and arguments, and reads the replies. Here: a
    send's phone scripts (reserve, release, commit) and the rid links."""

    def _ref(self, t: SendTarget, rid: str = "") -> VerificationRef:
        return VerificationRef(t.tag, t.slot, rid)

    def _pacing(self, pacing: SendPacing | None) -> SendPacing:
        if pacing is not None:
            return pacing
        return SendPacing(
            resend_cooldown_seconds=self._cooldown_seconds,
            max_sends=self._max_sends,
            phone_10m=self.limits.phone_10m.limit,
            phone_24h=self.limits.phone_24h.limit,
        )

    async def reserve_phone(
        self, target: SendTarget, token: str, lock_seconds: float, pacing: SendPacing | None = None
    ) -> PhoneVerdict:
        ref = self._ref(target)
        lim = self.limits
        pace = self._pacing(pacing)
        who = target.requester
        share_10m, share_24h = lim.phone_net_10m.limit, lim.phone_net_24h.limit
        if pacing is not None:
            # A service's own per-phone pacing (Twilio's 5 per 10 min) is for one person
            # tapping "resend": their network's share is at least that much.
            share_10m = _widened(share_10m, pacing.phone_10m)
            share_24h = _widened(share_24h, pacing.phone_24h)
        reply = await self.scripts.run(
            "phone_reserve",
            [
                keys.verification(ref),
                keys.send_lock(ref),
                keys.send_log(target.tag),
                keys.undelivered(ref),
                keys.trusted(target.tag),
                self._refusals_key(target.tag),
            ],
            [
                target.client,
                "1" if target.exempt else "0",
                token,
                int(lock_seconds * 1000),
                pace.max_sends,
                who.bucket,
                who.network,
                who.device,
                lim.ms(lim.phone_10m.period),
                lim.ms(lim.phone_24h.period),
                pace.phone_10m,  # the number's ceiling: the settings, or the service's own
                pace.phone_24h,
                share_10m,
                share_24h,
                lim.phone_reserved_10m.limit,
                lim.phone_reserved_24h.limit,
                lim.test_number_day.limit,
                target.country,
                self._refusals_ttl_ms(),
            ],
        )
        kind = text(reply[0])
        if kind == "new":
            return PhoneVerdict("new")
        if kind == "resend":
            return PhoneVerdict(
                "resend",
                rid=rid_hex(reply[1]),
                sends=int(text(reply[2])),
                undelivered_sms_id=text(reply[3]),
            )
        return PhoneVerdict("limited", policy=text(reply[1]), retry_after=seconds_of(reply[2]))

    async def release_phone(
        self, target: SendTarget, token: str, *, refund: bool, failure: SendFailure | None = None
    ) -> None:
        ref = self._ref(target)
        args: list[Any] = [token, "1" if refund else "0"]
        if failure is None:
            args += ["0", "", "", "", "", 0, "", "", "0", ""]
        else:
            args += [
                "1",
                failure.verification_id,
                target.client,
                target.e164,
                target.country,
                self.limits.prefix_drop_digits,
                failure.error,
                failure.result_code or "",
                "1" if failure.may_have_sent else "0",
                failure.mode,
            ]
        args.append(target.requester.bucket)
        await self.scripts.run(
            "phone_release",
            [keys.send_lock(ref), keys.send_log(target.tag), keys.phone_events(target.tag)],
            args,
        )

    async def commit_send(
        self,
        target: SendTarget,
        token: str,
        *,
        mode: str,
        rid: str,
        code_hash: str,
        sms_id: str,
        ttl_seconds: int | None = None,
        parts: int = 0,
        pacing: SendPacing | None = None,
    ) -> Verification | None:
        ref = self._ref(target, rid)
        pace = self._pacing(pacing)
        ttl_ms = ttl_seconds * 1000 if ttl_seconds else self._ttl_ms
        reply = await self.scripts.run(
            "phone_commit",
            [
                keys.verification(ref),
                keys.send_lock(ref),
                keys.phone_events(target.tag),
                keys.expiry_index(keys.partition_of(target.tag)),
            ],
            [
                token,
                mode,
                rid_bytes(rid),
                pack_code_hash(code_hash),
                ttl_ms,
                self.limits.ms(pace.resend_cooldown_seconds),
                self._max_checks,
                sms_id,
                target.client,
                target.e164,
                target.purpose,
                target.locale,
                pace.max_sends,
                "1" if target.exempt else "0",
                self._accept_previous,
                target.country,
                self.limits.prefix_drop_digits,
                parts,
                public_head(ref),
            ],
        )
        if len(reply) == 1:
            return None
        return verification_of(reply, ref)

    async def link_rid(self, rid: str, verification_id: str, ttl_seconds: float) -> None:
        # One plain SET of a value that never changes for a rid: no read-modify-write.
        async with self.scripts.bounded("Storage is unavailable; nothing was sent."):
            await self.redis.set(keys.rid_link(rid), verification_id, px=int(ttl_seconds * 1000))

    async def resolve_rid(self, rid: str) -> str | None:
        async with self.scripts.bounded("Storage is unavailable."):
            found = await self.redis.get(keys.rid_link(rid))
        return None if found is None else text(found)


def store_for(redis: AnyRedis, settings: Settings) -> RedisStore:
    """The store as the settings configure it (the app and `otpservice check` share this)."""
    return RedisStore(
        redis,
        settings.limits,
        code_ttl_seconds=settings.code_ttl_seconds,
        max_checks=settings.max_checks,
        max_sends=settings.max_sends,
        resend_cooldown_seconds=settings.resend_cooldown_seconds,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        accept_previous_code=settings.accept_previous_code,
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
        shares=settings.shares,
        guard=settings.guard,
        events=settings.events,
        history_days=settings.history_days,
    )


def _widened(share: int, ceiling: int) -> int:
    """A share no smaller than the ceiling; 0 (off) when either is off."""
    return 0 if share == 0 or ceiling == 0 else max(share, ceiling)
