"""The HTTP send hook: our text POSTed to the operator's own SMS gateway, signed with
Standard Webhooks (the shape of Supabase's Send SMS hook and Ory's HTTP courier).

Request: ``{"to": "+905...", "text", "locale", "verification_id", "event_id"}`` with the
``webhook-id`` (= ``event_id``), ``webhook-timestamp`` and ``webhook-signature`` headers.
Answer: any 2xx, optionally ``{"message_id": "..."}``. A 4xx is a definite refusal
(nothing was sent); a 5xx, a timeout or a cut connection may have sent the SMS.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Final

import httpx
import structlog

from otpservice.domain.ports import Balance, CodeMessage, Delivery, DeliveryState, SentSms
from otpservice.errors import Fault, ProviderUnavailable
from otpservice.events.signing import sign
from otpservice.provider_config import ProviderSpec

log = structlog.get_logger("otpservice.provider")
MAX_MESSAGE_ID: Final = 128


class HookRefused(ProviderUnavailable):
    """The hook answered 4xx: it did not send, and says nothing about the number."""

    fault = Fault.ACCOUNT

    def __init__(self, status: int) -> None:
        super().__init__(f"The send hook refused with HTTP {status}.", result_code=f"HTTP-{status}")


class HookUnreachable(ProviderUnavailable):
    """No connection to the hook: the request provably never left."""

    fault = Fault.PROVIDER

    def __init__(self, reason: str) -> None:
        super().__init__(f"The send hook is unreachable ({reason}).", result_code="HOOK-DOWN")


class HookUncertain(ProviderUnavailable):
    """A 5xx, timeout or cut connection: the SMS may have left."""

    fault = Fault.PROVIDER
    retryable = True

    def __init__(self, reason: str, result_code: str) -> None:
        super().__init__(
            f"The send hook did not confirm ({reason}).",
            result_code=result_code,
            may_have_sent=True,
        )


class HookProvider:
    """Always sends our own (local) code."""

    kind: Final = "http_hook"
    makes_codes: Final = False
    operation: Final = "send_hook"
    low_balance_sms: Final = 0

    def __init__(self, spec: ProviderSpec, transport: httpx.AsyncBaseTransport | None = None):
        self.name = spec.name
        self._url = spec.url
        self._secret = spec.secret
        self._http = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(retries=0),
            timeout=httpx.Timeout(
                spec.timeout_seconds,
                connect=spec.connect_timeout_seconds,
                pool=spec.connect_timeout_seconds,
            ),
            follow_redirects=False,
            headers={"User-Agent": "otpservice-hook/1"},
        )
        self._total = spec.timeout_seconds

    def __repr__(self) -> str:
        return f"HookProvider({self.name!r})"

    async def send(self, msisdn: str, message: CodeMessage) -> SentSms:
        event_id = "msg_" + secrets.token_hex(12)
        body = json.dumps(
            {
                "to": "+" + msisdn,
                "text": message.text,
                "locale": message.lang.value,
                "verification_id": message.verification_id,
                "event_id": event_id,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = sign(self._secret, event_id, int(time.time()), body)
        headers["Content-Type"] = "application/json"
        try:
            async with asyncio.timeout(self._total):
                response = await self._http.post(self._url, content=body, headers=headers)
        except TimeoutError:
            raise HookUncertain("no answer in time", "HOOK-TIMEOUT") from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise HookUnreachable(type(exc).__name__) from None
        except httpx.TransportError as exc:  # read timeout, reset, truncated answer
            raise HookUncertain(type(exc).__name__, "HOOK-TIMEOUT") from None
        status = response.status_code
        if 400 <= status < 500:
            raise HookRefused(status)
        if not 200 <= status < 300:
            raise HookUncertain(f"HTTP {status}", f"HTTP-{status}")
        return SentSms(
            sms_id=_message_id(response.content) or event_id, parts=1, otp_code=message.local_code
        )

    async def delivery(self, sms_id: str) -> Delivery:
        # A hook reports no deliveries: what happened after its 2xx is the gateway's.
        return Delivery(state=DeliveryState.PENDING)

    async def balance(self) -> Balance | None:
        return None

    async def aclose(self) -> None:
        await self._http.aclose()


def _message_id(content: bytes) -> str | None:
    """The hook's ``message_id`` when it gave a short printable one."""
    try:
        data = json.loads(content) if content.strip() else None
    except ValueError:
        return None
    value = data.get("message_id") if isinstance(data, dict) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)
        if 0 < len(text) <= MAX_MESSAGE_ID and text.isprintable():
            return text
    return None
