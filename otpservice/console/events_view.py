"""The console's view of the event log: the Live page's feed over every stream, and the
history of one phone or verification (the Search page). Entries as CONTRACT.md lays them
out; nothing here ever holds more of a phone than the mask every event carries."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import msgspec
from redis.exceptions import RedisError

from otpservice.config import Settings
from otpservice.domain.models import phone_tag
from otpservice.domain.phone import parse_phone
from otpservice.errors import InvalidPhone, InvalidRequest, StorageUnavailable
from otpservice.storage import keys
from otpservice.storage.scripts import OPERATION_TIMEOUT

LIVE_FIRST_PAGE = 50  # events shown when the Live page opens
LIVE_BATCH = 200  # at most this many new events per stream per poll
HISTORY_LIMIT = 500
# The streams: one per partition, and the shared one ("g").
STREAMS: tuple[int | str, ...] = (*range(keys.PARTITIONS), "g")
STREAM_NAMES = frozenset(str(p) for p in STREAMS)
HEX = frozenset("0123456789abcdef")


class EventRow(msgspec.Struct, frozen=True):
    id: str
    at: str  # ISO 8601, UTC, from the entry id's milliseconds
    type: str
    client: str
    verification: str
    country: str
    prefix: str
    phone: str  # masked, as every event carries it
    detail: str  # the type's own data as "key=value" pairs


class EventPage(msgspec.Struct, frozen=True):
    events: list[EventRow]
    cursor: str
    waiting: str = ""


async def bounded(call: Any) -> Any:
    try:
        async with asyncio.timeout(OPERATION_TIMEOUT):
            return await call
    except (RedisError, TimeoutError) as exc:
        raise StorageUnavailable("Storage is unavailable.") from exc


async def live(redis: Any, after: str) -> EventPage:
    """Events newer than ``after`` (a cursor from an earlier page), newest first; with no
    cursor, the latest few. Every stream is read at once (one call per partition)."""
    seen = {str(p): "0-0" for p in STREAMS} | parse_cursor(after)

    async def read(part: int | str) -> tuple[str, list[Any]]:
        stream = keys.event_stream(part)
        if not after:
            entries = await redis.xrevrange(stream, "+", "-", count=LIVE_FIRST_PAGE)
        else:
            entries = await redis.xrange(stream, f"({seen[str(part)]}", "+", count=LIVE_BATCH)
        return str(part), entries

    results = await bounded(asyncio.gather(*(read(p) for p in STREAMS)))
    rows: list[EventRow] = []
    for part, entries in results:
        for entry_id, fields in entries:
            rows.append(event_row(part, entry_id, fields))
        if entries:
            ids = [as_text(e[0]) for e in entries]
            seen[part] = max(ids, key=_id_key)
    rows = _newest_first(rows)
    if not after:
        rows = rows[:LIVE_FIRST_PAGE]
    return EventPage(rows, format_cursor(seen))


async def history(redis: Any, settings: Settings, query: str) -> tuple[str, EventPage]:
    """A phone's or a verification's events, oldest first, and what was searched as the
    page may show it (a phone masked)."""
    query = query.strip()
    lowered = query.lower()
    if len(lowered) >= 32 and set(lowered) <= HEX:
        tag, wanted, shown = lowered[:16], lowered, lowered
    else:
        try:
            phone = parse_phone(query, settings.default_region)
        except InvalidPhone as exc:
            raise InvalidRequest(
                "Enter a phone number (as the API accepts it) or a verification id."
            ) from exc
        tag, wanted, shown = phone_tag(settings.secret, phone.e164), "", phone.masked
    part = keys.partition_of(tag)
    stream = keys.event_stream(part)
    rows: list[EventRow] = []
    cursor = "-"
    while len(rows) < HISTORY_LIMIT:
        batch = await bounded(redis.xrange(stream, cursor, "+", count=2000))
        for entry_id, fields in batch:
            vid = as_text(fields.get(b"v", fields.get("v", b"")))
            if (wanted and vid == wanted) or (not wanted and vid.startswith(tag)):
                rows.append(event_row(part, entry_id, fields))
        if len(batch) < 2000:
            break
        cursor = f"({as_text(batch[-1][0])}"
    return shown, EventPage(rows[:HISTORY_LIMIT], "")


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _at(entry_id: str) -> str:
    ms = int(entry_id.partition("-")[0])
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def detail_of(raw: str) -> str:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    shown = []
    for name, value in sorted(data.items()):
        if isinstance(value, dict | list):
            continue
        if name.endswith("_at") and isinstance(value, int) and value > 10**11:  # ms times
            value = _at(f"{value}-0")
        shown.append(f"{name}={value}")
    return ", ".join(shown)


def event_row(part: int | str, entry_id: Any, fields: dict[Any, Any]) -> EventRow:
    f = {as_text(k): as_text(v) for k, v in fields.items()}
    eid = as_text(entry_id)
    return EventRow(
        id=f"evt_{part}_{eid}",
        at=_at(eid),
        type=f.get("t", ""),
        client=f.get("c", ""),
        verification=f.get("v", ""),
        country=f.get("cc", ""),
        prefix=f.get("px", ""),
        phone=f.get("ph", ""),
        detail=detail_of(f.get("d", "")),
    )


def parse_cursor(cursor: str) -> dict[str, str]:
    """``p=<entry id>`` pairs joined by ``.``: the last entry seen in each stream."""
    out: dict[str, str] = {}
    for item in cursor.split("."):
        part, sep, entry_id = item.partition("=")
        ms, dash, seq = entry_id.partition("-")
        if sep and part in STREAM_NAMES and ms.isdigit() and dash and seq.isdigit():
            out[part] = entry_id
    return out


def format_cursor(seen: dict[str, str]) -> str:
    return ".".join(f"{part}={entry_id}" for part, entry_id in sorted(seen.items()))


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def _newest_first(rows: Iterable[EventRow]) -> list[EventRow]:
    return sorted(rows, key=lambda row: _id_key(row.id.rpartition("_")[2]), reverse=True)
