"""The VerificationStore port on Redis: every read-modify-write is one Lua script."""

from __future__ import annotations

import time
from typing import Any

from otpservice.config import Settings
from otpservice.domain.models import Status, Verification, VerificationRef
from otpservice.domain.phone import mask_prefix
from otpservice.domain.ports import (
    Attempt,
    PhoneVerdict,
    ScriptCall,
    SendFailure,
    SendPacing,
    SendTarget,
    SharedVerdict,
)
from otpservice.domain.requester import Requester
from otpservice.errors import (
    NotFoundReason,
    RateLimited,
    VerificationNotFound,
)
from otpservice.guard.settings import GuardSettings
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS, refusals_ttl_ms, utc_day
from otpservice.storage.record import (
    pack_code_hash,
    rid_bytes,
    rid_hex,
    text,
    unpack_code_hash,
    verification_of,
)
from otpservice.storage.scripts import AnyRedis, ScriptRunner
from otpservice.storage.shared_plan import SharedPlan
from otpservice.throttling.policies import CheckBackoff, Limits
from otpservice.throttling.shares import BudgetShares


def _seconds(ms: Any) -> float:
    return max(float(text(ms)), 0.0) / 1000.0


def _reserved(reply: Any) -> bool:
    return text(reply[0]) == "ok"


def _approved(reply: Any) -> bool:
    return text(reply[0]) == "approved"


class RedisStore:
    """Says which script runs with which keys and arguments, and reads the replies;
    storage/scripts.py runs them (Redis errors become StorageUnavailable: the API answers
    503)."""

    def __init__(
        self,
        redis: AnyRedis,
        limits: Limits,
        *,
        code_ttl_seconds: int,
        max_checks: int,
        max_sends: int,
        resend_cooldown_seconds: int,
        idempotency_ttl_seconds: int,
        accept_previous_code: bool = True,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
        shares: BudgetShares | None = None,
        guard: GuardSettings | None = None,
        events: bool = True,
        history_days: int = 7,
    ) -> None:
        self.redis = redis
        self._ttl_ms = code_ttl_seconds * 1000
        self._idem_ttl_ms = idempotency_ttl_seconds * 1000
        self._accept_previous = "1" if accept_previous_code else "0"
        self._history_ms = history_days * DAY_MS
        self.apply_policy(
            limits,
            shares or BudgetShares(),
            guard or GuardSettings(),
            max_checks=max_checks,
            max_sends=max_sends,
            resend_cooldown_seconds=resend_cooldown_seconds,
        )
        self.scripts = ScriptRunner(
            redis, events=events, wait_replicas=wait_replicas, wait_timeout_ms=wait_timeout_ms
        )

    async def ping(self) -> bool:
        """Ready: Redis answers and every script is loaded (a restarted Redis gets them)."""
        return await self.scripts.ping()

    def apply_policy(
        self,
        limits: Limits,
        shares: BudgetShares,
        guard: GuardSettings,
        *,
        max_checks: int,
        max_sends: int,
        resend_cooldown_seconds: int,
    ) -> None:
        """Take a new policy snapshot (at start, and when a runtime change arrives): one
        attribute swap, so a request in flight sees either the old policy or the new one."""
        self.limits = limits
        self._max_checks = max_checks
        self._max_sends = max_sends
        self._cooldown_seconds = resend_cooldown_seconds
        self.plan = SharedPlan(limits, shares, guard)

    def _shared_keys(
        self, plan: SharedPlan, t: SendTarget, idem: tuple[str, str] | None
    ) -> tuple[list[str], str, int]:
        """The shared script's keys (idempotency, prefix burst, the budget counters, then the
        guard's), the budgets' argument, and the index of the first guard key."""
        idem_key = keys.idempotency(t.client, idem[0]) if idem else keys.NO_IDEMPOTENCY
        head = [
            idem_key,
            keys.prefix_block(t.prefix),
            keys.prefix_numbers(t.prefix),
            keys.SHARED_EVENTS,
        ]
        budget_keys, spec = plan.budgets(t)
        return [*head, *budget_keys, *plan.guard_keys(t)], spec, len(head) + len(budget_keys) + 1

    async def reserve_shared(
        self, target: SendTarget, idempotency: tuple[str, str] | None
    ) -> SharedVerdict:
        plan = self.plan
        burst = plan.limits.prefix_burst
        keys_, spec, guard_at = self._shared_keys(plan, target, idempotency)
        args: list[Any] = [
            "1" if idempotency else "0",
            idempotency[1] if idempotency else "",
            # The claim outlives the longest send; a crashed instance's claim expires on its own.
            60_000,
            target.tag,
            burst.numbers,
            plan.limits.ms(burst.window),
            plan.limits.ms(burst.block),
            "0" if target.exempt else "1",
            spec,
            target.client,
            target.country,
            mask_prefix(target.prefix),
            plan.guard_spec,
            guard_at,
            "1" if plan.judges(target) else "0",
            "1" if target.country in plan.guard.block_countries else "0",
            target.masked,
            len(keys_) + 1,  # R: today's refusal counts, appended below
            self._refusals_ttl_ms(),
        ]
        keys_ = [*keys_, keys.refusals_day("g", utc_day(int(time.time() * 1000)))]
        reply = await self.scripts.run("shared_reserve", keys_, args)
        kind = text(reply[0])
        if kind == "ok":
            return SharedVerdict(
                "ok",
                added_member=text(reply[1]) == "1",
                guard_added=text(reply[2]) == "1",
                flag=text(reply[3]),
            )
        if kind == "replay":
            body = reply[1]
            return SharedVerdict(
                "replay", body=body if isinstance(body, bytes) else str(body).encode()
            )
        if kind == "in_progress":
            return SharedVerdict("in_progress", retry_after=_seconds(reply[1]))
        if kind == "conflict":
            return SharedVerdict("conflict")
        return SharedVerdict(
            "limited",
            policy=text(reply[1]),
            retry_after=_seconds(reply[2]),
            blocked_now=text(reply[3]) == "blocked_now",
            flag=text(reply[3]),
        )

    async def refund_shared(
        self,
        target: SendTarget,
        idempotency: tuple[str, str] | None,
        *,
        refund_budgets: bool,
        remove_member: bool,
        remove_guard_member: bool = False,
    ) -> None:
        keys_, _, guard_at = self._shared_keys(self.plan, target, idempotency)
        await self.scripts.run(
            "shared_refund",
            keys_,
            [
                "1" if idempotency else "0",
                "1" if refund_budgets and not target.exempt else "0",
                target.tag if remove_member else "",
                guard_at - 5,
                guard_at,
                target.tag if remove_guard_member else "",
            ],
        )

    async def store_idempotent(
        self, target: SendTarget, idempotency: tuple[str, str], body: bytes
    ) -> None:
        await self.scripts.run(
            "idempotency_store",
            [keys.idempotency(target.client, idempotency[0])],
            [idempotency[1], body, self._idem_ttl_ms],
        )

    def _refusals_ttl_ms(self) -> int:
        return refusals_ttl_ms(self._history_ms)

    def _refusals_key(self, tag: str) -> str:
        return keys.refusals_day(keys.partition_of(tag), utc_day(int(time.time() * 1000)))

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
        return PhoneVerdict("limited", policy=text(reply[1]), retry_after=_seconds(reply[2]))

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
                _head(ref),
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

    # -- reads and checks --------------------------------------------------------------

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
            raise RateLimited(text(reply[1]), _seconds(reply[2]))
        raise VerificationNotFound(_reason(text(reply[1])))

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
            _head(ref),
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
            raise VerificationNotFound(_reason(text(reply[1])))
        return int(text(reply[1])), written

    async def reject(self, ref: VerificationRef, attempt: Attempt) -> Status:
        full = VerificationRef(ref.tag, ref.slot, attempt.rid)
        reply = await self.scripts.run(
            "check_reject",
            [keys.verification(full), keys.phone_events(ref.tag)],
            [rid_bytes(attempt.rid), attempt.attempts_left, _head(ref)],
        )
        status = text(reply)
        return Status(status) if status in Status._value2member_map_ else Status.PENDING

    async def set_status(self, ref: VerificationRef, client: str, status: Status) -> None:
        reply = await self.scripts.run(
            "set_status",
            [keys.verification(ref), keys.phone_events(ref.tag)],
            [client, rid_bytes(ref.rid), status.value, _head(ref)],
        )
        if text(reply[0]) != "ok":
            raise VerificationNotFound(_reason(text(reply[1])))


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


def _head(ref: VerificationRef) -> str:
    """The public id's first 32 hex digits (tag + slot): scripts append the rid's hex."""
    return ref.tag + ref.slot


def _reason(value: str) -> NotFoundReason:
    try:
        return NotFoundReason(value)
    except ValueError:
        return NotFoundReason.UNKNOWN
