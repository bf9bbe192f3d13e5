"""Bearer-key authentication, compared in constant time against every configured key."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

from otpservice.config import ClientKey
from otpservice.errors import Forbidden, Unauthorized
from otpservice.observability.requests import note_client

MAX_KEY_LENGTH = 256


def find_client(clients: tuple[ClientKey, ...], presented: str) -> ClientKey | None:
    """The client whose key this is. Looks at every key so timing says nothing of which."""
    digest = hashlib.sha256(presented.encode()).digest()
    match: ClientKey | None = None
    for client in clients:
        if hmac.compare_digest(client.digest, digest):
            match = client
    return match


def bearer_key(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` value, or None when it is not one."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_LENGTH:
        return None
    return token


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    values = connection.headers.getall("authorization", [])
    if len(values) > 1:
        # Ambiguous: a proxy may have checked one and we would use another.
        raise Unauthorized("Send exactly one Authorization header.")
    token = bearer_key(values[0] if values else "")
    if token is None:
        raise Unauthorized("Send 'Authorization: Bearer <client key>'.")
    return token


_CLIENT = "otpservice.client"


def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> ClientKey:
    """The caller's client key (once per request), or Unauthorized."""
    known = connection.scope.get("state", {}).get(_CLIENT)
    if isinstance(known, ClientKey):
        return known
    clients: tuple[ClientKey, ...] = connection.app.state.settings.clients
    client = find_client(clients, bearer_token(connection))
    if client is None:
        raise Unauthorized("Unknown API key.")
    connection.scope.setdefault("state", {})[_CLIENT] = client
    note_client(connection.scope, client.name)
    return client


async def provide_client(request: Request[Any, Any, Any]) -> ClientKey:
    return authenticate(request)


async def provide_admin(request: Request[Any, Any, Any]) -> ClientKey:
    client = await provide_client(request)
    if not client.admin:
        raise Forbidden("This call needs an admin key.")
    return client
