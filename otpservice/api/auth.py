"""Bearer-key authentication, compared in constant time against every configured key."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar import Request

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


def bearer_token(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_LENGTH:
        raise Unauthorized("Send 'Authorization: Bearer <client key>'.")
    return token


async def provide_client(request: Request[Any, Any, Any]) -> ClientKey:
    clients: tuple[ClientKey, ...] = request.app.state.settings.clients
    client = find_client(clients, bearer_token(request))
    if client is None:
        raise Unauthorized("Unknown API key.")
    note_client(request.scope, client.name)
    return client


async def provide_admin(request: Request[Any, Any, Any]) -> ClientKey:
    client = await provide_client(request)
    if not client.admin:
        raise Forbidden("This call needs an admin key.")
    return client
