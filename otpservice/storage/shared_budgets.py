"""The send's shared script: idempotency, the prefix burst, the shared budgets and the fraud
guard's reading, on the keys under the global hash tag (one round trip before the phone's)."""

from __future__ import annotations

import time
from typing import Any

from otpservice.domain.phone import mask_prefix
from otpservice.domain.ports import SendTarget, SharedVerdict
from otpservice.storage import keys
from otpservice.storage.days import utc_day
from otpservice.storage.record import text
from otpservice.storage.shared_plan import SharedPlan
from otpservice.storage.store_base import StoreBase, seconds_of


class SharedBudgetScripts(StoreBase):
    """Reserving and refunding a send's shared budgets, and replaying idempotent answers."""

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
            return SharedVerdict("in_progress", retry_after=seconds_of(reply[1]))
        if kind == "conflict":
            return SharedVerdict("conflict")
        return SharedVerdict(
            "limited",
            policy=text(reply[1]),
            retry_after=seconds_of(reply[2]),
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
