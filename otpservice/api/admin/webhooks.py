"""Admin: webhook endpoints, their backlog and dead letters, re-sending, re-enabling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from msgspec import Meta

from otpservice.api import openapi as spec
from otpservice.config import ClientKey
from otpservice.errors import DeadLetterNotFound, WebhookNotFound
from otpservice.events.webhook_queue import DeadLetter, EndpointState
from otpservice.events.webhooks import Webhooks
from otpservice.webhooks_config import WebhookEndpoint

EndpointId = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="The endpoint's id (we_...).")
]
EventId = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="The event id (evt_...).")
]
RESEND_ALL_LIMIT = 1000


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class WebhookEndpointOut(msgspec.Struct, frozen=True):
    """A configured endpoint and its delivery state (never its secret)."""

    id: Annotated[str, Meta(description="Stable id, from the client name and the URL.")]
    client: Annotated[str, Meta(description="The client whose events it gets; '*' for all.")]
    url: Annotated[str, Meta(description="Where deliveries are POSTed.")]
    events: Annotated[list[str], Meta(description="Event type patterns it receives.")]
    disabled: Annotated[bool, Meta(description="True after it answered 410 Gone.")]
    disabled_at: Annotated[str | None, Meta(description="When it was disabled.")]
    backlog: Annotated[int, Meta(description="Deliveries waiting or being retried.")]
    dead_letters: Annotated[int, Meta(description="Dead letters held (re-sendable).")]
    dead_letters_dropped: Annotated[
        int, Meta(description="Oldest dead letters dropped past OTP_WEBHOOK_MAX_DEAD_LETTERS.")
    ]

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, state: EndpointState) -> WebhookEndpointOut:
        return cls(
            id=endpoint.id,
            client=endpoint.client,
            url=endpoint.url,
            events=list(endpoint.events),
            disabled=state.disabled,
            disabled_at=_iso(state.disabled_at_ms),
            backlog=state.backlog,
            dead_letters=state.dead_letters,
            dead_letters_dropped=state.dead_letters_dropped,
        )


class WebhookEndpointsOut(msgspec.Struct, frozen=True):
    """Every configured webhook endpoint."""

    endpoints: list[WebhookEndpointOut]


class DeadLetterOut(msgspec.Struct, frozen=True):
    """An event that was not delivered to an endpoint, kept to be re-sent."""

    event_id: Annotated[str, Meta(description="The event id (its webhook-id).")]
    type: Annotated[str, Meta(description="The event type.")]
    reason: Annotated[
        Literal["exhausted", "overflow", "endpoint_gone", "endpoint_disabled"],
        Meta(description="Retries used up, backlog full, 410 Gone, or endpoint disabled."),
    ]
    attempts: Annotated[int, Meta(description="Delivery attempts made.")]
    last_status: Annotated[
        str, Meta(description="The last attempt's HTTP status or error ('' if none).")
    ]
    died_at: Annotated[str, Meta(description="When it became a dead letter.")]

    @classmethod
    def of(cls, dead: DeadLetter) -> DeadLetterOut:
        reason: Any = dead.reason
        return cls(
            event_id=dead.event_id,
            type=dead.type,
            reason=reason,
            attempts=dead.attempts,
            last_status=dead.last_status,
            died_at=_iso(dead.died_at_ms) or "",
        )


class DeadLettersOut(msgspec.Struct, frozen=True):
    """A page of an endpoint's dead letters, newest first."""

    total: Annotated[int, Meta(description="Dead letters held at this endpoint.")]
    dead_letters: list[DeadLetterOut]
    next_offset: Annotated[int | None, Meta(description="Offset of the next page, if any.")]


class ResendOut(msgspec.Struct, frozen=True):
    """Dead letters queued again."""

    queued: Annotated[int, Meta(description="How many were queued (due now).")]


def provide_webhooks(request: Request[Any, Any, Any]) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


def _endpoint(webhooks: Webhooks, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhooks.endpoints.get(endpoint_id)
    if endpoint is None:
        raise WebhookNotFound("No webhook endpoint has this id.")
    return endpoint


class AdminWebhooks(Controller):
    path = "/webhooks"
    tags = ["admin"]

    @get("/", responses=spec.WEBHOOKS, operation_id="listWebhooks", summary="Webhook endpoints")
    async def list_endpoints(
        self, client: NamedDependency[ClientKey], request: Request[Any, Any, Any]
    ) -> WebhookEndpointsOut:
        webhooks = provide_webhooks(request)
        out = [
            WebhookEndpointOut.of(e, await webhooks.queue.state(e))
            for e in webhooks.endpoints.values()
        ]
        return WebhookEndpointsOut(endpoints=out)

    @get(
        "/{endpoint_id:str}/dead-letters",
        responses=spec.WEBHOOK,
        operation_id="listWebhookDeadLetters",
        summary="An endpoint's dead letters",
    )
    async def dead_letters(
        self,
        endpoint_id: EndpointId,
        client: NamedDependency[ClientKey],
        request: Request[Any, Any, Any],
        offset: Annotated[
            int, QueryParameter(ge=0, le=1_000_000, description="Skip this many.")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size.")] = 50,
    ) -> DeadLettersOut:
        webhooks = provide_webhooks(request)
        total, page = await webhooks.queue.dead_letters(
            _endpoint(webhooks, endpoint_id), offset, limit
        )
        following = offset + len(page)
        return DeadLettersOut(
            total=total,
            dead_letters=[DeadLetterOut.of(d) for d in page],
            next_offset=following if following < total else None,
        )

    @post(
        "/{endpoint_id:str}/dead-letters/{event_id:str}/resend",
        status_code=202,
        responses=spec.DEAD_LETTER_POST,
        operation_id="resendWebhookDeadLetter",
        summary="Re-send one dead letter",
    )
    async def resend_one(
        self,
        endpoint_id: EndpointId,
        event_id: EventId,
        client: NamedDependency[ClientKey],
        request: Request[Any, Any, Any],
    ) -> ResendOut:
        webhooks = provide_webhooks(request)
        queued = await webhooks.queue.resend(_endpoint(webhooks, endpoint_id), event_id, 1)
        if not queued:
            raise DeadLetterNotFound("This endpoint holds no dead letter with this event id.")
        return ResendOut(queued=queued)

    @post(
        "/{endpoint_id:str}/dead-letters/resend",
        status_code=202,
        responses=spec.WEBHOOK_POST,
        operation_id="resendWebhookDeadLetters",
        summary="Re-send an endpoint's oldest dead letters (up to 1000)",
    )
    async def resend_all(
        self,
        endpoint_id: EndpointId,
        client: NamedDependency[ClientKey],
        request: Request[Any, Any, Any],
    ) -> ResendOut:
        webhooks = provide_webhooks(request)
        endpoint = _endpoint(webhooks, endpoint_id)
        return ResendOut(queued=await webhooks.queue.resend(endpoint, None, RESEND_ALL_LIMIT))

    @post(
        "/{endpoint_id:str}/enable",
        status_code=200,
        responses=spec.WEBHOOK_POST,
        operation_id="enableWebhook",
        summary="Enable an endpoint again after a 410",
    )
    async def enable(
        self,
        endpoint_id: EndpointId,
        client: NamedDependency[ClientKey],
        request: Request[Any, Any, Any],
    ) -> WebhookEndpointOut:
        webhooks = provide_webhooks(request)
        endpoint = _endpoint(webhooks, endpoint_id)
        await webhooks.queue.enable(endpoint)
        return WebhookEndpointOut.of(endpoint, await webhooks.queue.state(endpoint))
