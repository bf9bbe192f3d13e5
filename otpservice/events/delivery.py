"""Delivery tracking: after the provider accepts an SMS, ask its status endpoint on a schedule
(15 s, 1 min, 5 min, 30 min after the send by default) until a final state, and record the
answer with its event in one script.

* Intake: the consumer group ``delivery`` over the partition streams turns each
  ``send.accepted`` event into a tracked message: a hash per message and a per-partition ZSET
  of due polls, in the verification's partition (events/lua/dlv_track.lua).
* Polling: each instance takes due messages under a lease (the claim: one instance polls a
  message), asks a global per-minute budget in Redis for them (polls never eat the provider's
  per-minute limit that sends need), polls, and records (dlv_record.lua): a final state and
  its ``delivery.*`` event together, once; otherwise the next poll of the schedule.
* Reading: ``GET /v1/verifications/{id}/delivery`` answers from the tracked state, never with
  a provider call of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError

from otpservice.domain.models import VerificationRef
from otpservice.domain.ports import Delivery, DeliveryState, SmsGateway
from otpservice.errors import OtpError, ProviderError, StorageUnavailable
from otpservice.events.scripts import register
from otpservice.events.streams import StreamEvent, StreamGroup, all_streams, run_forever
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis
from otpservice.webhooks_config import DeliveryTrackingSettings

log = structlog.get_logger("otpservice.delivery")

GROUP = "delivery"
SCRIPTS = ("dlv_track", "dlv_take", "dlv_record", "poll_budget")
LEASE_SECONDS = 60.0  # at least; always longer than a provider call may take
TAKE_PER_PARTITION = 8
KEEP_AFTER_LAST_POLL_MS = 86_400_000  # a report stays readable a day after tracking ends
BUDGET_KEY = f"{keys.SHARED}:b:delivery_polls"
UNDELIVERED = ("not_delivered", "out_of_coverage")
UNDELIVERED_MARK_MS = 3_600_000  # outlives any verification; compared with its last SMS's id
EVENT_OF = {
    DeliveryState.DELIVERED: "delivery.delivered",
    DeliveryState.NOT_DELIVERED: "delivery.undelivered",
    DeliveryState.OUT_OF_COVERAGE: "delivery.out_of_coverage",
}


def report_key(part: int, sms_id: str) -> str:
    return f"{keys.ROOT}:{keys.partition_tag(part)}:dv:{sms_id}"


def schedule_key(part: int) -> str:
    return f"{keys.ROOT}:{keys.partition_tag(part)}:dq"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.polls = Counter(
            "otp_delivery_polls",
            "Delivery status polls by outcome (delivered, not_delivered, out_of_coverage, "
            "pending, error) and budget deferrals (deferred).",
            ["outcome"],
            registry=registry,
        )


class DeliveryTracker:
    """Implements the domain's DeliveryReports port, and runs the intake and the poller."""

    def __init__(
        self,
        redis: AnyRedis,
        gateway: SmsGateway,
        settings: DeliveryTrackingSettings,
        metrics: DeliveryMetrics,
        *,
        claim_idle_seconds: float = 60.0,
        provider_timeout_seconds: float = 15.0,
    ) -> None:
        self.redis = redis
        self.gateway = gateway
        self.settings = settings
        self.metrics = metrics
        # A tick well inside the first poll's delay; at most a second.
        self.poll_seconds = min(max(settings.poll_schedule[0] / 4, 0.1), 1.0)
        self.lease_ms = int(max(LEASE_SECONDS, provider_timeout_seconds + 15) * 1000)
        self._scripts = register(redis, *SCRIPTS)
        self.group = StreamGroup(
            redis,
            GROUP,
            all_streams(shared=False),
            claim_idle_seconds=claim_idle_seconds,
        )
        self._offsets = ",".join(str(int(s * 1000)) for s in settings.poll_schedule)
        self._ttl_ms = int(settings.poll_schedule[-1] * 1000) + KEEP_AFTER_LAST_POLL_MS
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def _run(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await self._scripts[name](keys=keys_, args=args)
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc

    # -- the port: what GET .../delivery answers --------------------------------------------

    async def report(self, tag: str, sms_id: str) -> Delivery | None:
        """The tracked state of a message, or None when it is not (yet) tracked."""
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                raw = await self.redis.hgetall(report_key(keys.partition_of(tag), sms_id))
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc
        if not raw:
            return None
        f = {_text(k): _text(v) for k, v in raw.items()}
        return Delivery(
            state=DeliveryState(f.get("state", "pending")),
            operator=f.get("operator") or None,
            sent_at=f.get("sent_at") or None,
            provider_code=f.get("code") or None,
        )

    # -- background loops ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.group.prepare()
        self._loops = [
            asyncio.create_task(self._forever(self.intake_once)),
            asyncio.create_task(self._forever(self.poll_once)),
        ]

    async def stop(self) -> None:
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)

    async def _forever(self, step: Callable[[], Awaitable[bool]]) -> None:
        await run_forever(step, self.poll_seconds, "delivery.loop_failed")

    async def intake_once(self) -> bool:
        events = await self.group.read()
        if not events:
            return False
        accepted = [e for e in events if e.type == "send.accepted"]
        results = await asyncio.gather(*(self._track(e) for e in accepted), return_exceptions=True)
        if any(isinstance(r, BaseException) for r in results):
            return False  # not acknowledged: claimed again later; tracking twice is a no-op
        await self.group.ack(events)
        # Straight on only while a backlog waits: the first poll is seconds away, so a read
        # a poll interval later loses nothing, while reading again at once after every few
        # events cost a busy service's workers ~20 % of their CPU (bench/, cheap hashing).
        return self.group.more_waiting

    async def _track(self, event: StreamEvent) -> None:
        sms_id = str(event.data.get("sms_id") or event.data.get("message_id") or "")
        if not sms_id or event.data.get("test"):
            return  # a test number: nothing went out
        part = int(event.stream[event.stream.index("{p") + 2 : event.stream.index("}")])
        first = event.at_ms + int(self.settings.poll_schedule[0] * 1000)
        await self._run(
            "dlv_track",
            [report_key(part, sms_id), schedule_key(part)],
            [
                sms_id,
                event.verification_id,
                event.client,
                event.country,
                event.prefix,
                event.phone,
                event.at_ms,
                first,
                self._ttl_ms,
            ],
        )

    async def poll_once(self) -> bool:
        took = await asyncio.gather(
            *(self._take(part) for part in range(keys.PARTITIONS)), return_exceptions=True
        )
        due = [item for batch in took if not isinstance(batch, BaseException) for item in batch]
        if not due:
            return False
        granted, retry_ms = await self._budget(len(due))
        for i, (part, sms_id, lease) in enumerate(due):
            if i < granted:
                self._spawn(self._poll(part, sms_id, lease))
            else:
                self.metrics.polls.labels("deferred").inc()
                self._spawn(self._record(part, sms_id, lease, "deferred", delay_ms=retry_ms))
        return False

    async def _take(self, part: int) -> list[tuple[int, str, str]]:
        flat = await self._run(
            "dlv_take", [schedule_key(part)], [TAKE_PER_PARTITION, self.lease_ms]
        )
        return [(part, _text(flat[i]), _text(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def _budget(self, wanted: int) -> tuple[int, int]:
        reply = await self._run(
            "poll_budget", [BUDGET_KEY], [self.settings.polls_per_minute, wanted]
        )
        return int(reply[0]), max(int(reply[1]), 100)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, part: int, sms_id: str, lease: str) -> None:
        try:
            report = await self.gateway.delivery(sms_id)
        except ProviderError as exc:
            self.metrics.polls.labels("error").inc()
            log.info("delivery.poll_failed", sms_id=sms_id, error=exc.code)
            await self._record(part, sms_id, lease, "error")
            return
        self.metrics.polls.labels(report.state.value).inc()
        await self._record(part, sms_id, lease, report.state.value, report)

    async def _record(
        self,
        part: int,
        sms_id: str,
        lease: str,
        state: str,
        report: Delivery | None = None,
        *,
        delay_ms: int = 0,
    ) -> None:
        event = next((e for s, e in EVENT_OF.items() if s.value == state), "")
        try:
            outcome = await self._run(
                "dlv_record",
                [report_key(part, sms_id), schedule_key(part), keys.event_stream(part)],
                [
                    sms_id,
                    lease,
                    state,
                    event,
                    (report.operator if report else None) or "",
                    (report.sent_at if report else None) or "",
                    (report.provider_code if report else None) or "",
                    self._offsets,
                    delay_ms,
                ],
            )
        except StorageUnavailable:
            return  # the lease runs out and the poll is made again
        if _text(outcome) == "recorded":
            log.info("delivery.recorded", sms_id=sms_id, state=state)
            if state in UNDELIVERED:
                await self._mark_undelivered(part, sms_id)

    async def _mark_undelivered(self, part: int, sms_id: str) -> None:
        """Let the next resend of that verification skip its cooldown once and go another
        way (storage/lua/phone_reserve.lua reads the mark; providers/routing.py the way)."""
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                vid = await self.redis.hget(report_key(part, sms_id), "v")
                if not vid:
                    return
                ref = VerificationRef.parse(_text(vid))
                await self.redis.set(keys.undelivered(ref), sms_id, nx=True, px=UNDELIVERED_MARK_MS)
        except (RedisError, TimeoutError, OtpError) as exc:
            log.info("delivery.mark_failed", sms_id=sms_id, error=type(exc).__name__)
