"""The verification service: sends codes and checks them, refusing before it spends.

This is the lifecycle; the send path is in sends.py, the check path in checks.py, hashing
off the event loop in hash_threads.py. A send is reserve (shared budgets and idempotency,
then per-phone budgets and a send lock) -> provider -> commit the code's hash; any failure
gives back what was reserved. A check is reserve an attempt -> verify the hash off the
event loop -> approve with compare-and-set (or mark the verification spent on the last
wrong attempt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import structlog

from otpservice.config import ClientKey, Settings
from otpservice.domain.checks import Checks
from otpservice.domain.codes import CodeHasher
from otpservice.domain.hash_threads import HashThreads
from otpservice.domain.models import (
    CheckResult,
    Status,
    Verification,
    VerificationRef,
    phone_tag,
    slot_of,
)
from otpservice.domain.phone import parse_phone
from otpservice.domain.ports import (
    Balance,
    ConversionCounter,
    Delivery,
    DeliveryReports,
    DeliveryState,
    RefusalCounter,
    SmsGateway,
    VerificationStore,
)
from otpservice.domain.requester import Requester, requester_of
from otpservice.domain.send_request import CreateRequest, SendOptions
from otpservice.domain.sends import Sends
from otpservice.domain.telemetry import NoTelemetry, Telemetry
from otpservice.errors import NotFoundReason, VerificationNotFound

log = structlog.get_logger("otpservice.verification")


class VerificationService:
    def __init__(
        self,
        settings: Settings,
        store: VerificationStore,
        gateway: SmsGateway,
        *,
        telemetry: Telemetry | None = None,
        hash_pool: ThreadPoolExecutor | None = None,
        reports: DeliveryReports | None = None,
        conversions: ConversionCounter | None = None,
        refusals: RefusalCounter | None = None,
        hash_timing: Callable[[float, float], None] | None = None,
    ) -> None:
        """``hash_timing(wall, cpu)``: told, from the hash thread, how long each hash took
        and how much of that its thread ran (admission control reads starvation there)."""
        self.reports = reports
        self.refusals = refusals
        self.store = store
        self.gateway = gateway
        self.conversions = conversions
        self.telemetry = telemetry or NoTelemetry()
        self.hasher = CodeHasher(settings.secret, settings.hash_preset)
        hashing = HashThreads(hash_pool, hash_timing)
        self._sends = Sends(
            settings, store, gateway, self.telemetry, refusals, self.hasher, hashing
        )
        self._checks = Checks(settings, store, self.telemetry, self.hasher, hashing, conversions)
        self.settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, applied: Settings) -> None:
        """A runtime policy change (app.py): the send and check paths take it too."""
        self._settings = self._sends.settings = self._checks.settings = applied

    # -- sends ---------------------------------------------------------------------------

    async def create(
        self,
        client: ClientKey,
        request: CreateRequest,
        idempotency_key: str | None = None,
        options: SendOptions | None = None,
    ) -> tuple[Verification, bool]:
        """Send a code (new verification or resend). Returns it and whether it was replayed."""
        return await self._sends.create(client, request, idempotency_key, options)

    async def drain(self) -> None:
        """Wait for background refunds (at shutdown, and in tests that count budgets)."""
        await self._sends.drain()

    # -- checks --------------------------------------------------------------------------

    async def check(
        self,
        client: ClientKey,
        verification_id: str,
        code: str,
        client_ip: str | None = None,
        *,
        device_id: str | None = None,
        code_length: int | None = None,
    ) -> CheckResult:
        """Check by id: from any network (the id names the verification)."""
        try:
            ref = VerificationRef.parse(verification_id)
        except VerificationNotFound:
            # An id that cannot exist: the same 404, and counted the same, as one the check
            # script finds nothing for (check_reserve.lua's not_found, no country).
            self.telemetry.check("not_found")
            if self.refusals is not None:
                self.refusals.note(client.name, "not_found", "")
            raise
        who = requester_of(client_ip, device_id, self.settings.secret)
        return await self._checks.check(client, ref, code, who, code_length)

    def _phone_ref(
        self, client: ClientKey, phone_input: str, purpose: str, who: Requester
    ) -> VerificationRef:
        """The slot a lookup by phone finds: the one of the caller's own network."""
        phone = parse_phone(phone_input, self.settings.default_region)
        return VerificationRef(
            phone_tag(self.settings.secret, phone.e164),
            slot_of(client.name, purpose, who.network),
            "",
        )

    async def check_by_phone(
        self,
        client: ClientKey,
        phone_input: str,
        purpose: str,
        code: str,
        client_ip: str | None = None,
        *,
        device_id: str | None = None,
    ) -> CheckResult:
        """Check the verification this network asked for (by client_ip's /24 or /48; without
        an address, the one asked for without an address)."""
        who = requester_of(client_ip, device_id, self.settings.secret)
        ref = self._phone_ref(client, phone_input, purpose, who)
        return await self._checks.check(client, ref, code, who, None)

    # -- reads and ends ------------------------------------------------------------------

    async def get(self, client: ClientKey, verification_id: str) -> Verification:
        return await self._get(client, VerificationRef.parse(verification_id))

    async def get_by_phone(
        self, client: ClientKey, phone_input: str, purpose: str, client_ip: str | None = None
    ) -> Verification:
        """The caller's pending verification for this phone and purpose, asked for from the
        network of ``client_ip`` (or without an address)."""
        who = requester_of(client_ip, None, self.settings.secret)
        return await self._get(client, self._phone_ref(client, phone_input, purpose, who))

    async def _get(self, client: ClientKey, ref: VerificationRef) -> Verification:
        found = await self.store.load(ref)
        if found is None or found.client != client.name:
            raise VerificationNotFound(NotFoundReason.UNKNOWN)
        return found.usable(time.time())

    async def id_for_rid(self, rid: str) -> str:
        """The id linked to a random part by a create with ``SendOptions(link_rid=True)``.

        Says nothing of ownership: callers pass the id to a client-scoped method."""
        found = await self.store.resolve_rid(rid)
        if found is None:
            raise VerificationNotFound(NotFoundReason.UNKNOWN)
        return found

    async def cancel(self, client: ClientKey, verification_id: str) -> None:
        ref = VerificationRef.parse(verification_id)
        await self.store.set_status(ref, client.name, Status.CANCELED)
        log.info("verification.canceled", verification_id=verification_id)

    async def approve_out_of_band(self, client: ClientKey, verification_id: str) -> None:
        ref = VerificationRef.parse(verification_id)
        await self.store.set_status(ref, client.name, Status.APPROVED)
        log.info("verification.approved_out_of_band", verification_id=verification_id)

    async def delivery(self, client: ClientKey, verification_id: str) -> Delivery:
        verification = await self.get(client, verification_id)
        if verification.test or not verification.sms_id:
            return Delivery(state=DeliveryState.TEST)
        if self.reports is None:  # no tracking wired (a bare service in unit tests)
            return await self.gateway.delivery(verification.sms_id)
        # The tracked state: a flood of reads is never a flood of provider calls.
        tag = VerificationRef.parse(verification.id).tag
        found = await self.reports.report(tag, verification.sms_id)
        return found or Delivery(state=DeliveryState.PENDING)

    async def balance(self) -> Balance:
        return await self.gateway.balance()
