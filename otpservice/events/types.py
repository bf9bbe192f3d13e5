"""The event log's public shapes: event types, and an event as the history API shows it."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

# Written by the verification scripts (storage/lua) and the sweeper (events/lua); delivery.*
# and provider.* by the delivery tracker and the balance poller; the rest by later parts.
VERIFICATION_TYPES = (
    "verification.created",
    "send.accepted",
    "send.failed",
    "delivery.delivered",
    "delivery.undelivered",
    "delivery.out_of_coverage",
    "check.failed",
    "verification.approved",
    "verification.canceled",
    "verification.expired",
    "verification.max_attempts_reached",
)


class EventOut(msgspec.Struct, frozen=True):
    """One event of the log. Never holds a code, a hash, a key or a full phone number."""

    id: Annotated[str, Meta(description="evt_<partition>_<entry id>; the webhook-id too.")]
    type: Annotated[str, Meta(description="What happened.", examples=["send.accepted"])]
    time: Annotated[str, Meta(description="When (Redis clock, UTC, ISO 8601 with ms).")]
    client: Annotated[str | None, Meta(description="The client key's name.")]
    verification_id: Annotated[str | None, Meta(description="The verification, if any.")]
    country: Annotated[str | None, Meta(description="ISO country of the number.")]
    prefix: Annotated[str | None, Meta(description="The number prefix (digits but the last).")]
    phone: Annotated[str | None, Meta(description="Masked.", examples=["+90532123****"])]
    data: Annotated[dict[str, Any], Meta(description="The type's own data.")]


class EventPage(msgspec.Struct, frozen=True):
    """Events, newest first."""

    events: list[EventOut]
    next_cursor: Annotated[
        str | None, Meta(description="Pass as `cursor` for older events; null at the end.")
    ]


class VerificationEvents(msgspec.Struct, frozen=True):
    """A verification's events, oldest first: also after it ended."""

    id: str
    events: list[EventOut]


class StatsRow(msgspec.Struct, frozen=True):
    """The numbers of one group."""

    key: Annotated[str, Meta(description="The group: a country, prefix, client, hour or day.")]
    started: Annotated[int, Meta(description="Verifications started.")]
    sms_sent: Annotated[int, Meta(description="SMS the provider accepted (test numbers not).")]
    sms_parts: Annotated[int, Meta(description="Their parts: what the provider bills.")]
    delivered: Annotated[int, Meta(description="Delivery reports that said delivered.")]
    approved: Annotated[int, Meta(description="Verifications approved.")]
    expired: Annotated[int, Meta(description="Verifications that expired pending.")]
    exhausted: Annotated[int, Meta(description="Verifications out of attempts.")]
    canceled: Annotated[int, Meta(description="Verifications canceled.")]
    conversion: Annotated[float | None, Meta(description="approved / started (null: none).")]
    refusals: Annotated[dict[str, int], Meta(description="Refused requests and checks by policy.")]


class StatsOut(msgspec.Struct, frozen=True):
    since: str
    until: str
    group_by: str
    groups: list[StatsRow]
    total: StatsRow
