"""Console sign-in: a session in Redis behind a signed cookie, CSRF tokens bound to it, and a
per-network delay on failed sign-ins (one Lua script, the same curve as the check delay).

The cookie holds ``<session id>.<HMAC of it>``; Redis holds, under the SHA-256 of the id
(a Redis dump gives no usable cookie), the admin client's name and a keyed fingerprint of
its key, with the session's expiry as TTL. Sign-out deletes it; rotating or removing the
admin key ends its sessions at their next request. A form's CSRF token is an HMAC of the
session id (before sign-in: of a random pre-session cookie), so a page from elsewhere can
neither read nor forge one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from redis.exceptions import RedisError

from otpservice.config import ClientKey, Settings
from otpservice.errors import StorageUnavailable
from otpservice.storage.keys import SHARED
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

SESSION_COOKIE = "otp_console"
PRE_SESSION_COOKIE = "otp_console_pre"  # carries the sign-in form's CSRF token seed
PRE_SESSION_SECONDS = 3600
COOKIE_PATH = "/console"
# A network's failed sign-ins are remembered this long after the last one.
FAILURES_KEPT_MS = 86_400_000


def _session_key(session_id: str) -> str:
    return f"{SHARED}:cs:s:{hashlib.sha256(session_id.encode()).hexdigest()[:32]}"


def _failures_key(network: str) -> str:
    return f"{SHARED}:cs:f:{network}"


class ConsoleSession:
    """A signed-in operator: the admin client's name and this session's CSRF token."""

    def __init__(self, session_id: str, client: str, csrf: str) -> None:
        self.session_id = session_id
        self.client = client
        self.csrf = csrf


class Signer:
    """The console's MACs, under a key derived from OTP_SECRET (never the secret itself)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"otpservice console v1", hashlib.sha256).digest()

    def _mac(self, purpose: bytes, value: str) -> str:
        return hmac.new(self._key, purpose + b"\x00" + value.encode(), hashlib.sha256).hexdigest()

    def seal(self, session_id: str) -> str:
        return f"{session_id}.{self._mac(b'cookie', session_id)}"

    def unseal(self, cookie: str | None) -> str | None:
        """The session id in a cookie we made, or None."""
        session_id, _, mac = (cookie or "").partition(".")
        if not session_id or len(cookie or "") > 200:
            return None
        return session_id if hmac.compare_digest(mac, self._mac(b"cookie", session_id)) else None

    def csrf(self, seed: str) -> str:
        return self._mac(b"csrf", seed)

    def csrf_ok(self, seed: str | None, presented: str | None) -> bool:
        if not seed or not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf(seed).encode())

    def key_fingerprint(self, client: ClientKey) -> str:
        """Which key a session was opened with, keyed so Redis learns nothing of it."""
        return self._mac(b"key", client.digest.hex())[:32]


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class ConsoleAuth:
    """Sessions and sign-in throttling in Redis (all keys under the shared tag {g})."""

    def __init__(self, redis: AnyRedis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.signer = Signer(settings.secret)
        source = (resources.files("otpservice.console") / "lua" / "signin_attempt.lua").read_text(
            "utf-8"
        )
        self._attempt = redis.register_script(source)

    @asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                yield
        except (RedisError, TimeoutError) as exc:
            raise StorageUnavailable("Storage is unavailable.") from exc

    async def attempt(self, network: str) -> float:
        """Count a sign-in attempt from ``network``: 0, or the seconds it must still wait."""
        backoff = self.settings.limits.check_backoff
        async with self._bounded():
            wait_ms = await self._attempt(
                keys=[_failures_key(network)],
                args=[
                    "try",
                    backoff.free_failures,
                    int(backoff.base_seconds * 1000),
                    int(backoff.cap_seconds * 1000),
                    FAILURES_KEPT_MS,
                ],
            )
        return int(wait_ms) / 1000.0

    async def succeeded(self, network: str) -> None:
        async with self._bounded():
            await self._attempt(keys=[_failures_key(network)], args=["ok", 0, 0, 0, 0])

    async def open(self, client: ClientKey) -> str:
        """A new session for ``client``; returns the cookie value."""
        session_id = new_session_id()
        record = json.dumps({"c": client.name, "k": self.signer.key_fingerprint(client)})
        async with self._bounded():
            await self.redis.set(
                _session_key(session_id), record, px=self.settings.console_session_seconds * 1000
            )
        return self.signer.seal(session_id)

    async def find(self, cookie: str | None) -> ConsoleSession | None:
        """The session a cookie names, if it is ours, not expired or closed, and its admin key
        is still configured unchanged."""
        session_id = self.signer.unseal(cookie)
        if session_id is None:
            return None
        async with self._bounded():
            raw: Any = await self.redis.get(_session_key(session_id))
        if raw is None:
            return None
        record = json.loads(raw)
        for client in self.settings.admin_clients:
            if client.name == record.get("c") and hmac.compare_digest(
                self.signer.key_fingerprint(client), str(record.get("k", ""))
            ):
                return ConsoleSession(session_id, client.name, self.signer.csrf(session_id))
        return None

    async def close(self, session: ConsoleSession) -> None:
        async with self._bounded():
            await self.redis.delete(_session_key(session.session_id))
