"""Admin: the providers, their breakers (as Redis holds them) and balances, and the routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from msgspec import Meta

from otpservice.api import openapi as spec
from otpservice.config import ClientKey
from otpservice.errors import StorageUnavailable
from otpservice.provider_config import Route
from otpservice.providers.breaker import BreakerState
from otpservice.providers.routing import Router

STATE_NAMES: dict[BreakerState, Literal["closed", "half_open", "open"]] = {
    BreakerState.CLOSED: "closed",
    BreakerState.HALF_OPEN: "half_open",
    BreakerState.OPEN: "open",
}


class ProviderOut(msgspec.Struct, frozen=True):
    """One provider (never its key or secret)."""

    name: Annotated[str, Meta(description="Its name in OTP_PROVIDERS.")]
    kind: Annotated[Literal["turkeysms", "http_hook"], Meta(description="What it is.")]
    breaker: Annotated[
        Literal["closed", "half_open", "open"],
        Meta(description="Its circuit breaker, shared by every instance."),
    ]
    breaker_retry_seconds: Annotated[
        float, Meta(description="Seconds until an open breaker lets a probe through (0 if none).")
    ]
    balance_sms: Annotated[
        int | None, Meta(description="Local SMS left at this instance's last poll (accounts).")
    ]
    low_balance: Annotated[
        bool, Meta(description="At or below its threshold: moved to the end of its routes.")
    ]


class RouteOut(msgspec.Struct, frozen=True):
    """A route: `default`, an ISO country, or a +prefix, and its providers in order."""

    key: str
    providers: list[str]
    failover_on_uncertain: bool


class ProvidersOut(msgspec.Struct, frozen=True):
    """The providers and the routes over them."""

    providers: list[ProviderOut]
    routes: list[RouteOut]


def _route(key: str, route: Route) -> RouteOut:
    return RouteOut(key, list(route.providers), route.failover_on_uncertain)


class AdminProviders(Controller):
    path = "/providers"
    tags = ["admin"]

    @get(
        "/",
        responses=spec.ADMIN_PROVIDERS,
        operation_id="listProviders",
        summary="Providers, breakers and routes",
    )
    async def list_providers(
        self, client: NamedDependency[ClientKey], request: Request[Any, Any, Any]
    ) -> ProvidersOut:
        router = request.app.state.gateway
        if not isinstance(router, Router):  # a gateway handed in by a test or an embedding
            return ProvidersOut(providers=[], routes=[])
        out: list[ProviderOut] = []
        for name, provider in router.providers.items():
            state, wait = BreakerState.CLOSED, 0.0
            if router.breakers is not None:
                try:
                    state, wait = await router.breakers.read(name)
                except Exception as exc:
                    raise StorageUnavailable("Storage is unavailable.") from exc
            balance = router.balances.get(name)
            kind: Any = provider.kind
            out.append(
                ProviderOut(
                    name=name,
                    kind=kind,
                    breaker=STATE_NAMES[state],
                    breaker_retry_seconds=round(wait, 3),
                    balance_sms=None if balance is None else balance.local_sms,
                    low_balance=name in router.low,
                )
            )
        table = router.settings.routes
        routes = [_route("default", table.default)]
        routes += [_route(k, r) for k, r in table.countries.items()]
        routes += [_route("+" + digits, r) for digits, r in table.prefixes]
        return ProvidersOut(providers=out, routes=routes)
