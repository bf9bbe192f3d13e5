"""/v1/events, /v1/verifications/{id}/events and /v1/stats: the event log and the
statistics, client-scoped (an admin key sees every client)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from otpservice.api import openapi as spec
from otpservice.api.v1 import VerificationId
from otpservice.config import ClientKey, Settings
from otpservice.domain.models import VerificationRef, phone_tag
from otpservice.domain.phone import parse_phone
from otpservice.errors import InvalidRequest, VerificationNotFound
from otpservice.events.history import PARTS, Cursor, EventHistory, event_out
from otpservice.events.stats import GROUPS, Statistics
from otpservice.events.streams import StreamEvent
from otpservice.events.types import EventPage, StatsOut, VerificationEvents
from otpservice.storage import keys
from otpservice.storage.days import DAY_MS

Since = Annotated[
    str | None,
    QueryParameter(
        description="From this time on (ISO 8601, UTC); default: the retention's start."
    ),
]
Until = Annotated[
    str | None, QueryParameter(description="Before this time (ISO 8601); default: now.")
]


def _ms(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} must be an ISO 8601 time such as 2026-12-01T10:00:00Z."
        ) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return int(at.timestamp() * 1000)


def _window(settings: Settings, since: str | None, until: str | None) -> tuple[int, int]:
    now = int(time.time() * 1000)
    until_ms = _ms(until, "until", now + 1)
    since_ms = max(_ms(since, "since", 0), now - settings.history_days * DAY_MS)
    if since_ms >= until_ms:
        raise InvalidRequest("since must be before until.")
    return since_ms, until_ms


def _scope(client: ClientKey, wanted: str | None) -> str | None:
    """Whose events: the caller's own, or (admin key) every client's or the one named."""
    if client.admin:
        return wanted or None
    return client.name


def _state(request: Request[Any, Any, Any]) -> tuple[Settings, EventHistory, Statistics]:
    state = request.app.state
    return state.settings, state.history, state.statistics


class History(Controller):
    path = "/"
    tags = ["history"]

    @get(
        "/events",
        responses=spec.HISTORY,
        operation_id=spec.OP_EVENTS,
        summary="Events, newest first",
        description="The event log with filters and cursor pagination. Client-scoped; an "
        "admin key sees every client (and may name one).",
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[ClientKey],
        phone: Annotated[
            str | None, QueryParameter(max_length=32, description="A phone number.")
        ] = None,
        verification_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
        type: Annotated[
            str | None, QueryParameter(max_length=512, description="Event types, comma-separated.")
        ] = None,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
        of_client: Annotated[
            str | None, QueryParameter(name="client", max_length=64, description="Admin key only.")
        ] = None,
    ) -> EventPage:
        settings, history, _ = _state(request)
        since_ms, until_ms = _window(settings, since, until)
        who = _scope(client, of_client)
        types = {t.strip() for t in type.split(",") if t.strip()} if type else None
        position = None
        if cursor:
            position = Cursor.parse(cursor)
            if position is None:
                raise InvalidRequest("cursor is not one this service gave.")
        parts: list[int | str] = PARTS
        tag: str | None = None
        vid: str | None = None
        if verification_id is not None:
            try:
                ref = VerificationRef.parse(verification_id)
            except VerificationNotFound as exc:
                raise InvalidRequest("verification_id is not a verification id.") from exc
            vid, parts = ref.id, [keys.partition_of(ref.tag)]
        if phone is not None:
            number = parse_phone(phone, settings.default_region)
            tag = phone_tag(settings.secret, number.e164)
            if vid is not None and vid[:16] != tag:
                return EventPage(events=[], next_cursor=None)
            parts = [keys.partition_of(tag)]

        def keep(e: StreamEvent) -> bool:
            return (
                (who is None or e.client == who)
                and (types is None or e.type in types)
                and (vid is None or e.verification_id == vid)
                and (tag is None or e.verification_id[:16] == tag)
            )

        found, next_cursor = await history.page(
            keep=keep,
            parts=parts,
            since_ms=since_ms,
            until_ms=until_ms,
            limit=limit,
            cursor=position,
        )
        return EventPage(events=[event_out(e) for e in found], next_cursor=next_cursor)

    @get(
        "/verifications/{verification_id:str}/events",
        responses=spec.VERIFICATION_EVENTS,
        operation_id=spec.OP_VERIFICATION_EVENTS,
        summary="A verification's events, also after it ended",
    )
    async def verification_events(
        self,
        request: Request[Any, Any, Any],
        verification_id: VerificationId,
        client: NamedDependency[ClientKey],
    ) -> VerificationEvents:
        settings, history, _ = _state(request)
        ref = VerificationRef.parse(verification_id)
        since_ms, until_ms = _window(settings, None, None)
        who = None if client.admin else client.name

        def keep(e: StreamEvent) -> bool:
            return e.verification_id == ref.id and (who is None or e.client == who)

        found, _ = await history.page(
            keep=keep,
            parts=[keys.partition_of(ref.tag)],
            since_ms=since_ms,
            until_ms=until_ms,
            limit=500,
            cursor=None,
        )
        if not found:
            raise VerificationNotFound()
        return VerificationEvents(id=ref.id, events=[event_out(e) for e in reversed(found)])

    @get(
        "/stats",
        responses=spec.STATS,
        operation_id=spec.OP_STATS,
        summary="Statistics: started, sent, parts, delivered, approved, conversion, refusals",
    )
    async def stats(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[ClientKey],
        since: Since = None,
        until: Until = None,
        group_by: Annotated[
            str, QueryParameter(description="country | prefix | client | hour | day")
        ] = "day",
        of_client: Annotated[
            str | None, QueryParameter(name="client", max_length=64, description="Admin key only.")
        ] = None,
    ) -> StatsOut:
        settings, _, statistics = _state(request)
        if group_by not in GROUPS:
            raise InvalidRequest("group_by must be one of country, prefix, client, hour, day.")
        since_ms, until_ms = _window(settings, since, until)
        rows, total = await statistics.report(
            since_ms=since_ms,
            until_ms=until_ms,
            group_by=group_by,
            client=_scope(client, of_client),
        )
        return StatsOut(
            since=_iso(since_ms), until=_iso(until_ms), group_by=group_by, groups=rows, total=total
        )


def _iso(at_ms: int) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
