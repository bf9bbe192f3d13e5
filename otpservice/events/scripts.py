"""The events package's Lua scripts, loaded like the store's (storage/scripts.py).

A script that calls ``emit_event(`` or ``count_refusal(`` gets the event prelude
(storage/lua/events.lua); the webhook scripts (``wh_*``) get the endpoint-keys prelude
(events/lua/webhooks.lua).
"""

from __future__ import annotations

from importlib import resources

from redis.commands.core import AsyncScript

from otpservice.storage.scripts import AnyRedis


def _lua(package: str, name: str) -> str:
    return (resources.files(package) / "lua" / f"{name}.lua").read_text("utf-8")


def script_source(name: str) -> str:
    source = _lua("otpservice.events", name)
    if name.startswith("wh_"):
        source = _lua("otpservice.events", "webhooks") + "\n" + source
    if "emit_event(" in source or "count_refusal(" in source:
        source = event_prelude() + "\n" + source
    return source


def event_prelude() -> str:
    """storage/lua/events.lua: the one prelude that defines emit_event() and count_refusal()."""
    return _lua("otpservice.storage", "events")


def register(redis: AnyRedis, *names: str) -> dict[str, AsyncScript]:
    return {name: redis.register_script(script_source(name)) for name in names}
