"""HTTP Basic with an account SID and auth token, or an API key SID and secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from litestar.params import FromPath

from otpservice.api.twilio.errors import AUTHENTICATE, TwilioError, not_found, resource_path
from otpservice.config import ClientKey, Settings
from otpservice.twilio_config import TwilioCredential, TwilioService

MAX_HEADER = 512


class Caller(msgspec.Struct, frozen=True):
    """The authenticated account and the client key it acts as."""

    account_sid: str
    client: ClientKey


def _unauthorized() -> TwilioError:
    return TwilioError(401, AUTHENTICATE, "Authenticate")


def basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded or len(header) > MAX_HEADER:
        raise _unauthorized()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _unauthorized() from exc
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise _unauthorized()
    return username, password


def find_credential(
    credentials: tuple[TwilioCredential, ...], sid: str, secret: str
) -> TwilioCredential | None:
    """Looks at every credential, so timing says nothing of which SID or token matched."""
    digest = hashlib.sha256(secret.encode()).digest()
    match: TwilioCredential | None = None
    for credential in credentials:
        same_token = hmac.compare_digest(credential.digest, digest)
        if hmac.compare_digest(credential.sid.encode(), sid.encode()) and same_token:
            match = credential
    return match


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    settings: Settings = request.app.state.settings
    sid, secret = basic_credentials(request.headers.get("authorization", ""))
    credential = find_credential(settings.twilio.credentials, sid, secret)
    if credential is None:
        raise _unauthorized()
    name = settings.twilio.accounts[credential.account]
    client = next(c for c in settings.clients if c.name == name)
    return Caller(account_sid=credential.account, client=client)


async def provide_twilio_service(
    request: Request[Any, Any, Any],
    service_sid: FromPath[str],
    caller: NamedDependency[Caller],
) -> TwilioService:
    """The caller's service; another account's answers like an unknown one."""
    settings: Settings = request.app.state.settings
    service = settings.twilio.services.get(service_sid)
    if service is None or service.account != caller.account_sid:
        raise not_found(resource_path(request))
    return service
