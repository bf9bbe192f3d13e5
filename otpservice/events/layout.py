"""The partitioned key layout of CONTRACT.md 1, as this package uses it. A stand-in until the
event log core (storage/keys.py) carries it; then these names come from there."""

from __future__ import annotations

from otpservice.storage.keys import ROOT, SHARED

PARTITIONS = 16


def partition_of(tag: str) -> int:
    return int(tag[:4], 16) % PARTITIONS


def partition_tag(part: int | str) -> str:
    return "{g}" if part == "g" else f"{{p{part}}}"


def event_stream(part: int | str) -> str:
    return f"{ROOT}:{partition_tag(part)}:ev"


SHARED_EVENTS = event_stream("g")

__all__ = [
    "PARTITIONS",
    "ROOT",
    "SHARED",
    "SHARED_EVENTS",
    "event_stream",
    "partition_of",
    "partition_tag",
]
