"""The router: an ``SmsGateway`` over several named providers (the domain sees one).

Each send takes the route of its number (longest +prefix, else country, else default) and
tries its providers in order, skipping one whose breaker is open, moving a provider whose
balance is low to the end, and moving the provider of an undelivered previous SMS to the end.

Whether a failure moves the same send on to the next provider:

* a refusal about the number (TS-1034, TS-1032, ...: ``PhoneRejected``): no, it is the
  number; the provider counts as healthy;
* a definite refusal that says nothing about the number (balance, sender ID, account, key,
  TS-1060, a hook's 4xx, a connection that could not be made): yes, at once; nothing left;
* an uncertain outcome (timeout, reset, 5xx, unreadable answer; ``may_have_sent``): only
  when the route says ``failover_on_uncertain`` (the person may then get two SMS).

The code that went out is the one the provider that accepted the send reports (its own, or
our ``local_code``); the domain stores only that one's hash. Message ids are stored as
``<provider>:<id>`` so delivery reports ask the provider that sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any, Final, Protocol

import httpx
import structlog

from otpservice.domain.ports import Balance, CodeMessage, Delivery, SentSms
from otpservice.errors import PhoneRejected, ProviderError, ProviderUnavailable
from otpservice.provider_config import ProviderSettings, Route
from otpservice.providers.breaker import Breakers, BreakerState, Pass

log = structlog.get_logger("otpservice.routing")
ID_SEPARATOR: Final = ":"


class Provider(Protocol):
    """One routed provider (a Turkey SMS account, a send hook)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def operation(self) -> str:
        """The metrics label of its send call."""
        ...

    @property
    def low_balance_sms(self) -> int: ...

    async def send(self, msisdn: str, message: CodeMessage) -> SentSms: ...

    async def delivery(self, sms_id: str) -> Delivery: ...

    async def balance(self) -> Balance | None: ...

    async def aclose(self) -> None: ...


class RoutingTelemetry(Protocol):
    """What the router reports (observability.metrics.Metrics implements it)."""

    def provider_call(self, operation: str, seconds: float) -> None: ...

    def provider_send(self, provider: str, outcome: str, seconds: float) -> None: ...

    def breaker_state(self, provider: str, state: int) -> None: ...

    def provider_balance(self, provider: str, local_sms: int, international_tl: float) -> None: ...


class NoRoutingTelemetry:
    def provider_call(self, operation: str, seconds: float) -> None:
        return None

    def provider_send(self, provider: str, outcome: str, seconds: float) -> None:
        return None

    def breaker_state(self, provider: str, state: int) -> None:
        return None

    def provider_balance(self, provider: str, local_sms: int, international_tl: float) -> None:
        return None


def _outcome(exc: ProviderError) -> str:
    if isinstance(exc, PhoneRejected):
        return "number_refused"
    return "uncertain" if exc.may_have_sent else "refused"


class Router:
    """Implements ``SmsGateway``."""

    def __init__(
        self,
        settings: ProviderSettings,
        providers: Sequence[Provider],
        breakers: Breakers | None,
        telemetry: RoutingTelemetry | None = None,
    ) -> None:
        self.settings = settings
        self.providers = {p.name: p for p in providers}
        self.breakers = breakers
        self.telemetry = telemetry or NoRoutingTelemetry()
        self.low: set[str] = set()  # providers at or below their low-balance threshold
        self.balances: dict[str, Balance] = {}
        self.states: dict[str, BreakerState] = {}
        for name in self.providers:
            self.telemetry.breaker_state(name, BreakerState.CLOSED.value)

    def __repr__(self) -> str:
        return f"Router({list(self.providers)})"

    # -- sends ---------------------------------------------------------------------------

    def order(self, route: Route, message: CodeMessage) -> list[str]:
        """The providers to try: the route's order, low balances and the provider of an
        undelivered previous SMS moved to the end (in that order of precedence)."""
        names = list(route.providers)
        names.sort(key=lambda n: n in self.low)
        if message.undelivered_sms_id:
            previous, sep, _ = message.undelivered_sms_id.partition(ID_SEPARATOR)
            if sep and previous in names and len(names) > 1:
                names.remove(previous)
                names.append(previous)
        return names

    async def send_code(self, msisdn: str, message: CodeMessage) -> SentSms:
        route = self.settings.routes.for_number(msisdn, message.country)
        queue = self.order(route, message)
        last: ProviderError | None = None
        may_have_sent = False
        skipped: list[str] = []
        forced: str | None = None
        index = 0
        while index < len(queue):
            name = queue[index]
            index += 1
            provider = self.providers[name]
            passed = Pass(True) if name == forced else await self._acquire(name)
            if not passed.allowed:
                skipped.append(name)
                self.telemetry.provider_send(name, "skipped", 0.0)
                if index == len(queue) and last is None and forced is None:
                    # Every breaker is open: a login must not fail without a try, so the
                    # first provider gets this send anyway (its breaker ignores the result).
                    forced = skipped[0]
                    queue.append(forced)
                continue
            started = time.perf_counter()
            try:
                sent = await provider.send(msisdn, message)
            except ProviderError as exc:
                seconds = time.perf_counter() - started
                self._report(provider, _outcome(exc), seconds)
                healthy = isinstance(exc, PhoneRejected)
                await self._record(name, passed, ok=healthy, result_code=exc.result_code)
                if healthy:
                    exc.may_have_sent = exc.may_have_sent or may_have_sent
                    raise
                may_have_sent = may_have_sent or exc.may_have_sent
                last = exc
                if exc.may_have_sent and not route.failover_on_uncertain:
                    raise
                if index < len(queue):
                    log.warning(
                        "provider.failover",
                        provider=name,
                        next_provider=queue[index],
                        result_code=exc.result_code,
                        may_have_sent=exc.may_have_sent,
                    )
                continue
            except BaseException:
                # Cancelled or a bug: unknown whether it left; count a failure, go no further.
                self._report(provider, "uncertain", time.perf_counter() - started)
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._record(name, passed, ok=False, result_code=None))
                raise
            self._report(provider, "sent", time.perf_counter() - started)
            await self._record(name, passed, ok=True, result_code=None)
            return SentSms(
                sms_id=f"{name}{ID_SEPARATOR}{sent.sms_id}",
                parts=sent.parts,
                otp_code=sent.otp_code,
            )
        assert last is not None  # the loop tries at least one provider
        if may_have_sent and not last.may_have_sent:
            # An earlier provider may have sent it: the budgets must keep counting this send.
            last.may_have_sent = True
        raise last

    def _report(self, provider: Provider, outcome: str, seconds: float) -> None:
        self.telemetry.provider_call(provider.operation, seconds)
        self.telemetry.provider_send(provider.name, outcome, seconds)

    async def _acquire(self, name: str) -> Pass:
        if self.breakers is None:
            return Pass(True)
        passed = await self.breakers.acquire(name)
        if passed.probe:
            self._set_state(name, BreakerState.HALF_OPEN)
        elif not passed.allowed:
            self._set_state(name, BreakerState.OPEN)
        return passed

    async def _record(self, name: str, passed: Pass, *, ok: bool, result_code: str | None) -> None:
        if self.breakers is None:
            return
        state, transition = await self.breakers.record(name, passed, ok=ok, result_code=result_code)
        self._set_state(name, state)
        if transition:
            log.warning(f"provider.breaker_{transition}", provider=name, result_code=result_code)

    def _set_state(self, name: str, state: BreakerState) -> None:
        if self.states.get(name) != state:
            self.states[name] = state
            self.telemetry.breaker_state(name, state.value)

    # -- reports, balances ---------------------------------------------------------------

    def _split(self, sms_id: str) -> tuple[Provider, str]:
        name, sep, rest = sms_id.partition(ID_SEPARATOR)
        if sep and name in self.providers:
            return self.providers[name], rest
        # Stored before routing existed: the first provider of the default route sent it.
        return self.providers[self.settings.routes.default.providers[0]], sms_id

    async def delivery(self, sms_id: str) -> Delivery:
        provider, provider_id = self._split(sms_id)
        return await provider.delivery(provider_id)

    def primary_account(self) -> Provider | None:
        """The first provider with a balance, in the default route's order."""
        names = [*self.settings.routes.default.providers, *self.providers]
        return next(
            (self.providers[n] for n in names if self.providers[n].kind == "turkeysms"), None
        )

    async def balance(self) -> Balance:
        primary = self.primary_account()
        if primary is None:
            raise ProviderUnavailable("No configured provider reports a balance.")
        found = await primary.balance()
        assert found is not None
        return found

    async def poll_balance(self, provider: Provider) -> Balance | None:
        """One provider's balance; a low one moves it to the end of its routes."""
        started = time.perf_counter()
        try:
            found = await provider.balance()
        finally:
            self.telemetry.provider_call("balance", time.perf_counter() - started)
        if found is None:
            return None
        self.balances[provider.name] = found
        self.telemetry.provider_balance(provider.name, found.local_sms, found.international_tl)
        if found.local_sms <= provider.low_balance_sms:
            self.low.add(provider.name)
        else:
            self.low.discard(provider.name)
        return found

    async def aclose(self) -> None:
        for provider in self.providers.values():
            with contextlib.suppress(Exception):
                await provider.aclose()


def build_router(
    settings: ProviderSettings,
    redis: Any,
    *,
    telemetry: RoutingTelemetry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Router:
    """The router as the settings describe it; ``redis`` None: no breakers (tools, tests)."""
    from otpservice.providers.hook import HookProvider
    from otpservice.providers.turkeysms.provider import TurkeySmsProvider

    providers: list[Provider] = [
        TurkeySmsProvider(spec, transport) if spec.kind == "turkeysms" else HookProvider(spec)
        for spec in settings.providers
    ]
    lease = max(p.timeout_seconds for p in settings.providers) + 5.0
    breakers = None if redis is None else Breakers(redis, settings.breaker, probe_lease=lease)
    return Router(settings, providers, breakers, telemetry)
