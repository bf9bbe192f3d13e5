"""The application factory. Resources come in from outside or are made in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

from otpservice import __version__
from otpservice.api.admin import admin_router
from otpservice.api.admission import AdmissionControl
from otpservice.api.body import JsonRequest
from otpservice.api.edge import HttpEdge
from otpservice.api.health import healthz, readyz
from otpservice.api.hot import HotRoutes
from otpservice.api.metrics import metrics_endpoint
from otpservice.api.openapi import ClosedStructSchemas
from otpservice.api.problems import EXCEPTION_HANDLERS
from otpservice.api.twilio import twilio_router
from otpservice.api.v1 import v1_router
from otpservice.config import Settings, load_settings
from otpservice.console import (
    DOCS_ASSETS_PATH,
    console_router,
    docs_assets_router,
    template_config,
    warm_console,
)
from otpservice.domain.phone import configure_masking
from otpservice.domain.ports import SmsGateway
from otpservice.domain.service import VerificationService
from otpservice.domain.telemetry import Telemetry
from otpservice.events.alerts import BalanceAlerts
from otpservice.events.delivery import DeliveryMetrics, DeliveryTracker
from otpservice.events.history import EventHistory
from otpservice.events.refusals import RefusalCounts
from otpservice.events.stats import Statistics
from otpservice.events.sweeper import EventMetrics, Sweeper
from otpservice.events.webhooks import WebhookMetrics, Webhooks
from otpservice.guard.store import GuardStore
from otpservice.observability.balance import poll_forever
from otpservice.observability.logging import configure_logging
from otpservice.observability.metrics import Metrics
from otpservice.observability.requests import RequestObservability, note_refusal
from otpservice.policy.runtime import RuntimePolicy
from otpservice.process import exit_with_supervisor
from otpservice.providers.routing import Router, RoutingTelemetry, build_router
from otpservice.storage.connect import connect_redis
from otpservice.storage.redis_store import store_for
from otpservice.storage.scripts import AnyRedis
from otpservice.throttling.admission import Admission


def docs_renderers() -> list[Any]:
    """Swagger UI at /schema and /schema/swagger with its files served from this package
    (no CDN: the page works without internet), and the document as JSON and YAML."""
    assets = DOCS_ASSETS_PATH
    return [
        SwaggerRenderPlugin(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
            path=["/", "/swagger"],
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="otpservice",
        version=__version__,
        description="Send one-time codes by SMS and check them.",
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="A client key from OTP_API_KEYS."
                )
            }
        ),
        path="/schema",
        render_plugins=docs_renderers(),
    )


def make_gateway(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    redis: AnyRedis | None = None,
    telemetry: RoutingTelemetry | None = None,
) -> Router:
    """The provider router as configured; without ``redis`` it has no breakers (CLI tools)."""
    return build_router(settings.providers, redis, telemetry=telemetry, transport=transport)


# argon2 threads run at a lower CPU priority than the event loop (Linux keeps a niceness
# per thread): when hashing saturates the cores, what needs no hash (/healthz, refusals,
# Redis replies, the provider's answers) still gets a core at once, and hashing keeps
# every idle cycle. bench/RESULTS.md has the before/after.
HASH_THREAD_NICENESS = 10


def lower_thread_priority() -> None:
    """Make the calling thread (not its process) HASH_THREAD_NICENESS nicer; Linux only."""
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + HASH_THREAD_NICENESS))


def create_app(
    settings: Settings,
    *,
    redis: AnyRedis | None = None,
    gateway: SmsGateway | None = None,
    telemetry: Telemetry | None = None,
    extra_handlers: Sequence[ControllerRouterHandler] = (),
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Litestar:
    """A fresh app. Resources passed in are the caller's to close; the rest the app owns.

    ``telemetry``: a ``Metrics`` to expose at /metrics (tests read it); another Telemetry
    receives the domain's events instead of the app's own metrics.
    """
    metrics = telemetry if isinstance(telemetry, Metrics) else Metrics()
    admission = Admission(settings.admission)
    webhook_metrics = WebhookMetrics(metrics.registry)
    delivery_metrics = DeliveryMetrics(metrics.registry)
    event_metrics = EventMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own_redis = redis is None
        own_gateway = gateway is None
        r = redis if redis is not None else connect_redis(settings)
        g: Any = (
            gateway if gateway is not None else make_gateway(settings, redis=r, telemetry=metrics)
        )
        workers = settings.hash_workers or (os.cpu_count() or 1)
        pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=lower_thread_priority
        )
        store = store_for(r, settings)
        # Redis may be down at start: /readyz reports it and the service recovers by itself.
        with contextlib.suppress(Exception):
            await store.scripts.load()
        app.state.settings = settings
        app.state.store = store
        app.state.gateway = g
        # Background consumers of the event log: they wait on Redis, never on a request.
        tracker = DeliveryTracker(
            r,
            g,
            settings.delivery_tracking,
            delivery_metrics,
            claim_idle_seconds=settings.webhooks.claim_idle_seconds,
            provider_timeout_seconds=settings.provider_timeout_seconds,
        )
        webhooks = Webhooks(r, settings.webhooks, webhook_metrics, transport=webhook_transport)
        app.state.webhooks = webhooks
        app.state.history = EventHistory(r)
        app.state.statistics = Statistics(r)
        # Its own connections: the sweep's background traffic never takes the connection a
        # request's script ran on before that request's WAIT (storage/scripts.py).
        sweep_redis = connect_redis(settings) if own_redis else r
        sweeper = Sweeper(
            sweep_redis,
            history_days=settings.history_days,
            every_seconds=settings.expiry_sweep_seconds,
            metrics=event_metrics,
            events=settings.events,
        )
        # Refusals decided before Redis, counted in process and written once a second on the
        # background connections: never a round trip of the request's own.
        refusal_counts = RefusalCounts(
            sweep_redis,
            history_days=settings.history_days,
            enabled=settings.events,
            registry=metrics.registry,
        )
        # OTP_EVENTS=0 writes nothing to the streams, so what only consumes them stays off:
        # the webhook fan-out and dispatch (a delivery is made from an event) and the delivery
        # tracker's intake and poller (it polls only what send.accepted events name; GET
        # .../delivery still answers from its tracked states, `pending` for SMS sent
        # meanwhile). The sweeper still runs (events/sweeper.py): expiries end pending
        # records and empty the expiry index, and older events are still trimmed.
        if settings.events:
            await tracker.start()
            await webhooks.start()
        elif settings.webhooks.endpoints:  # configured, but nothing will be delivered
            structlog.get_logger("otpservice.config").warning(
                "config.webhooks_without_events", endpoints=len(settings.webhooks.endpoints)
            )
        guard = GuardStore(store, settings.guard)
        app.state.guard = guard
        sweeper.start()
        service = VerificationService(
            settings,
            store,
            g,
            telemetry=telemetry or metrics,
            hash_pool=pool,
            conversions=guard,
            reports=tracker,
            hash_timing=admission.note_hash if settings.admission.enabled else None,
            refusals=refusal_counts,
        )
        app.state.service = service
        app.state.metrics = metrics
        app.state.admission = admission
        admission_control.refusals = refusal_counts
        admission.start()

        def apply_policy(applied: Settings) -> None:
            # Runtime policy: each holder of a policy takes the new snapshot whole.
            app.state.settings = service.settings = applied
            store.apply_policy(
                applied.limits,
                applied.shares,
                applied.guard,
                max_checks=applied.max_checks,
                max_sends=applied.max_sends,
                resend_cooldown_seconds=applied.resend_cooldown_seconds,
            )
            guard.apply_policy(applied.guard)

        policy = RuntimePolicy(store, settings, apply_policy, on_version=metrics.policy_changes.inc)
        app.state.policy = policy
        with contextlib.suppress(Exception):  # Redis down at start: the watcher catches up
            await policy.refresh()
        policy_watch = asyncio.create_task(policy.watch())
        poller: asyncio.Task[None] | None = None
        if settings.balance_poll_seconds > 0 and isinstance(g, Router):
            poller = asyncio.create_task(
                poll_forever(
                    g,
                    metrics,
                    every_seconds=settings.balance_poll_seconds,
                    on_reading=BalanceAlerts(r, settings.low_balance_sms).reading,
                )
            )
        # The console's sums of the past week, read once now rather than at the first view.
        console_warm = asyncio.create_task(warm_console(app.state)) if settings.console else None
        try:
            yield
        finally:
            if console_warm is not None:
                console_warm.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await console_warm
            policy_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await policy_watch
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await admission.stop()
            await refusal_counts.close()
            await sweeper.stop()
            if sweep_redis is not r:
                await sweep_redis.aclose()
            await webhooks.stop()
            await tracker.stop()
            metrics.close()
            await service.drain()
            pool.shutdown(wait=True)
            if own_gateway:
                await g.aclose()
            if own_redis:
                await r.aclose()

    configure_masking(settings.limits.prefix_drop_digits)
    configure_logging(
        settings.log_format,
        settings.log_level,
        secrets=settings.secret_values,
    )
    for finding in settings.insecure_allowed:  # OTP_ALLOW_INSECURE=1: said at every start
        structlog.get_logger("otpservice.config").warning("config.insecure", setting=finding)
    app = Litestar(
        route_handlers=[
            v1_router(),
            admin_router(),
            twilio_router(),
            healthz,
            readyz,
            metrics_endpoint,
            *([docs_assets_router()] if settings.api_docs else []),
            *([console_router()] if settings.console else []),
            *extra_handlers,
        ],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        after_exception=[note_refusal],
        # Off unless OTP_API_DOCS (on under `otpservice dev`): no key guards /schema.
        openapi_config=openapi_config() if settings.api_docs else None,
        template_config=template_config(),
        request_max_body_size=settings.max_body_bytes,
        request_class=JsonRequest,
        plugins=[ClosedStructSchemas()],
        state=None,
        debug=False,
        logging_config=None,  # configure_logging owns the root logger (structlog, redaction)
    )
    # Outside the router, so unmatched paths get a request id, a log line and a count too.
    # Inside it, admission control sheds a flooding client before Litestar does any work.
    # Inside that, every body must arrive in time (api/edge.py). Innermost, the two routes a
    # flood repeats skip the framework when the request is well-formed (api/hot.py).
    admission_control = AdmissionControl(HotRoutes(app.asgi_handler), admission, settings, metrics)
    app.asgi_handler = RequestObservability(
        HttpEdge(
            admission_control,
            body_timeout=settings.server.body_timeout_seconds,
        ),
        metrics,
        skip_log=frozenset({"/healthz", "/readyz", "/metrics"}),
    )
    return app


def create_app_from_env() -> Litestar:
    """Entry point for ASGI servers (``--factory``): production settings from the environment."""
    exit_with_supervisor()
    return create_app(load_settings())
