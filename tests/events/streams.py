"""Reading the event streams straight from Redis, as the tests' ground truth."""

from __future__ import annotations

import json
from typing import Any

import redis

from otpservice.storage import keys

STREAMS = [keys.event_stream(part) for part in range(keys.PARTITIONS)] + [keys.SHARED_EVENTS]


def raw_events(db: redis.Redis | redis.RedisCluster) -> list[dict[str, Any]]:
    """Every event in every stream, oldest first, fields decoded and `d` parsed."""
    found: list[dict[str, Any]] = []
    for stream in STREAMS:
        for entry_id, fields in db.xrange(stream):
            event = {k.decode(): v.decode() for k, v in fields.items()}
            event["d"] = json.loads(event["d"])
            event["id"] = entry_id.decode()
            event["stream"] = stream
            found.append(event)
    return sorted(found, key=lambda e: tuple(int(x) for x in e["id"].split("-")))


def types_of(events: list[dict[str, Any]], vid: str | None = None) -> list[str]:
    return [e["t"] for e in events if vid is None or e["v"] == vid]
