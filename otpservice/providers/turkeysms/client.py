"""A client of one Turkey SMS API v3 account (routed by ``provider.TurkeySmsProvider``).

Secrets (the API key, message texts, OTP codes) are kept out of everything httpx can see
or log, and out of every error's body snippet: redaction.py says how. How a reply is read
(success, or which typed error) is replies.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import httpx
import structlog

from otpservice.domain.ports import Balance, Delivery, Lang, SentSms
from otpservice.errors import ProviderError

from . import wire
from .errors import (
    ProviderProtocolError,
    ProviderUnreachable,
)
from .redaction import (
    SECRET_QUERY,
    Redactor,
    SecretQueryTransport,
    install_log_redaction,
    mask_msisdn,
)
from .replies import CallLog, convert, judge, protocol_error, sent_sms

__all__ = ["DEFAULT_BASE_URL", "ProviderTimeouts", "TurkeySmsClient"]

DEFAULT_BASE_URL: Final = "https://turkeysms.com.tr/api/v3"
LANG_CODES: Final = {Lang.EN: 0, Lang.TR: 1, Lang.AR: 2}
_BACKOFF_BASE: Final = 0.1
_BACKOFF_CAP: Final = 1.0

LOGGER_NAME: Final = "otpservice.provider"


@dataclass(frozen=True, slots=True)
class ProviderTimeouts:
    """Seconds. ``total`` bounds a whole call including retries and backoff."""

    connect: float = 3.0
    read: float = 10.0
    total: float = 15.0


class TurkeySmsClient:
    """Async client for the Turkey SMS API v3: one account, every operation of the API.

    One ``httpx.AsyncClient`` per instance (a reused connection pool); close it with
    ``aclose()`` or use the instance as an async context manager.

    Retries: a send is retried only when the connection could not be made (the
    request provably never left); anything after that may have sent the SMS, so it is
    reported with ``may_have_sent=True`` and never repeated here. TS-1060 is not
    retried either (``retry_after=60``). Status and balance checks are harmless to
    repeat and retry on any transport error or unreadable 5xx.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        sender_id: str = "",
        timeouts: ProviderTimeouts = ProviderTimeouts(),  # frozen: safe to share
        transport: httpx.AsyncBaseTransport | None = None,
        use_get_for_sms: bool = False,
        retries: int = 2,
    ) -> None:
        install_log_redaction()
        self._api_key = api_key
        self._sender_id = sender_id
        self._timeouts = timeouts
        self._use_get_for_sms = use_get_for_sms
        self._retries = max(0, retries)
        self._base = base_url.rstrip("/")
        inner = transport or httpx.AsyncHTTPTransport(retries=0)
        self._http = httpx.AsyncClient(
            transport=SecretQueryTransport(inner),
            timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect, pool=timeouts.connect),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "otpservice-turkeysms/1"},
        )

    def __repr__(self) -> str:
        return f"TurkeySmsClient(base_url={self._base!r}, sender_id={self._sender_id!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- operations ---------------------------------------------------------------------

    async def send_otp(self, msisdn: str, *, digits: int, lang: Lang) -> SentSms:
        """Provider-generated code. A numeric ``otp_code`` is zero-padded to ``digits``."""
        if digits not in (4, 5, 6):
            raise ValueError("digits must be 4, 5 or 6")
        params = {
            "mobile": msisdn,
            "digits": str(digits),
            "report": "1",
            "lang": str(LANG_CODES[lang]),
            "response_type": "json",
        }
        async with self._logged("send_otp", msisdn) as call:
            status, data, red = await self._exchange(
                call,
                "GET",
                "/otp/otp_get.php",
                params=params,
                secret_query={"api_key": self._api_key},
                is_send=True,
            )
            reply = convert(data, wire.SendReply, status, red, call)
            judge(reply.result, reply.result_code, wire.SEND_OK, status, data, red, call)
            code = wire.otp_code_text(reply.otp_code, digits)
            if code is None:
                raise protocol_error("success without a readable otp_code", status, data, red, call)
            return sent_sms(reply, status, data, red, call, otp_code=code)

    async def send_sms(self, msisdn: str, text: str, *, lang: Lang) -> SentSms:
        """Send our own text (POST JSON; the GET form if ``use_get_for_sms``)."""
        lang_code = LANG_CODES[lang]
        async with self._logged("send_sms", msisdn) as call:
            if self._use_get_for_sms:
                status, data, red = await self._exchange(
                    call,
                    "GET",
                    "/get/get.php",
                    params={
                        "title": self._sender_id,
                        "mobile": msisdn,
                        "report": "1",
                        "lang": str(lang_code),
                        "response_type": "json",
                    },
                    secret_query={"api_key": self._api_key, "text": text},
                    is_send=True,
                    extra_secrets=(text,),
                )
            else:
                body = {
                    "api_key": self._api_key,
                    "title": self._sender_id,
                    "text": text,
                    "sentto": msisdn,
                    "report": 1,
                    "sms_lang": lang_code,
                    "response_type": "json",
                    "content_type": 0,
                }
                status, data, red = await self._exchange(
                    call,
                    "POST",
                    "/gonder/add-content",
                    json=body,
                    is_send=True,
                    extra_secrets=(text,),
                )
            reply = convert(data, wire.SendReply, status, red, call)
            judge(reply.result, reply.result_code, wire.SEND_OK, status, data, red, call)
            return sent_sms(reply, status, data, red, call, otp_code=None)

    async def delivery(self, sms_id: str) -> Delivery:
        """Delivery report. ``result: false`` with a delivery code is still a report."""
        async with self._logged("delivery", None) as call:
            status, data, red = await self._exchange(
                call,
                "POST",
                "/sms-durumu/sms_durumu.php",
                params={"sms_id": sms_id, "response_type": "json"},
                secret_query={"api_key": self._api_key},
                is_send=False,
            )
            reply = convert(data, wire.StatusReply, status, red, call)
            result_code = wire.as_code(reply.result_code)
            status_code = wire.as_code(reply.sms_status_code)
            status_text = wire.as_text(reply.sms_status)
            is_report = status_code in ("TS-1022", "TS-1023", "TS-1024")
            if not (is_report and result_code in (None, *wire.STATUS_OK)):
                judge(reply.result, reply.result_code, wire.STATUS_OK, status, data, red, call)
            call.result_code = status_code or result_code
            return Delivery(
                state=wire.delivery_state(status_code, status_text),
                operator=wire.as_text(reply.operator),
                sent_at=wire.sent_at(reply.date_of_sending, reply.time_of_sending),
                provider_code=status_code,
            )

    async def balance(self) -> Balance:
        async with self._logged("balance", None) as call:
            status, data, red = await self._exchange(
                call,
                "POST",
                "/bakiye_sorgulama/add-content",
                json={"api_key": self._api_key, "response_type": "json"},
                is_send=False,
            )
            reply = convert(data, wire.BalanceReply, status, red, call)
            judge(reply.result, reply.result_code, wire.BALANCE_OK, status, data, red, call)
            local = wire.as_int(reply.local_balance_sms)
            intl = wire.as_float(reply.international_balance_tl)
            if local is None or intl is None:
                raise protocol_error("balance fields missing", status, data, red, call)
            return Balance(local_sms=local, international_tl=intl)

    # -- machinery ----------------------------------------------------------------------

    @asynccontextmanager
    async def _logged(self, operation: str, msisdn: str | None) -> AsyncIterator[CallLog]:
        """One ``provider.call`` event per operation, whatever happens."""
        call = CallLog(operation, mobile=None if msisdn is None else mask_msisdn(msisdn))
        started = time.perf_counter()
        outcome, level, extra = "ok", "info", {}
        try:
            yield call
        except ProviderError as exc:
            outcome, level = type(exc).__name__, "warning"
            extra = {"may_have_sent": exc.may_have_sent, "fault": exc.fault.value}
            call.result_code = call.result_code or exc.result_code
            raise
        except BaseException as exc:
            outcome, level = type(exc).__name__, "warning"
            raise
        finally:
            fields: dict[str, Any] = {
                "operation": operation,
                "result_code": call.result_code,
                "http_status": call.http_status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "parts": call.parts,
                "attempts": call.attempts,
                "outcome": outcome,
                **extra,
            }
            if call.mobile is not None:
                fields["mobile"] = call.mobile
            # Looked up per call: honours whatever structlog configuration is current.
            getattr(structlog.get_logger(LOGGER_NAME), level)("provider.call", **fields)

    async def _exchange(
        self,
        call: CallLog,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        secret_query: Mapping[str, str] | None = None,
        is_send: bool,
        extra_secrets: Iterable[str] = (),
    ) -> tuple[int, dict[str, Any], Redactor]:
        """One HTTP exchange with the retry policy and the total deadline applied."""
        redact = Redactor((self._api_key, *extra_secrets))
        try:
            async with asyncio.timeout(self._timeouts.total):
                status, data = await self._attempts(
                    call, method, path, params, json, secret_query, is_send, redact
                )
                return status, data, redact
        except TimeoutError:
            raise ProviderProtocolError(
                f"no answer within {self._timeouts.total:g} s",
                status=call.http_status,
                may_have_sent=is_send and call.sent_possible,
            ) from None

    async def _attempts(
        self,
        call: CallLog,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        secret_query: Mapping[str, str] | None,
        is_send: bool,
        redact: Redactor,
    ) -> tuple[int, dict[str, Any]]:
        extensions = {SECRET_QUERY: dict(secret_query)} if secret_query else None
        while True:
            call.attempts += 1
            can_retry = call.attempts <= self._retries
            request = self._http.build_request(
                method, self._base + path, params=params, json=json, extensions=extensions
            )
            call.sent_possible = True
            try:
                response = await self._http.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                call.sent_possible = False  # never connected: nothing left
                if can_retry:
                    await self._backoff(call.attempts)
                    continue
                raise ProviderUnreachable(
                    redact(f"{type(exc).__name__}: {exc}")[:160], attempts=call.attempts
                ) from None
            except httpx.TransportError as exc:  # timeouts, resets, truncated streams
                if can_retry and not is_send:
                    await self._backoff(call.attempts)
                    continue
                raise ProviderProtocolError(
                    redact(f"{type(exc).__name__}: {exc}")[:160], may_have_sent=is_send
                ) from None
            call.http_status = response.status_code
            try:
                return response.status_code, wire.decode_body(response.content)
            except wire.WireError as exc:
                if can_retry and not is_send and response.status_code >= 500:
                    await self._backoff(call.attempts)
                    continue
                raise ProviderProtocolError(
                    str(exc),
                    status=response.status_code,
                    snippet=redact.snippet(response.content),
                    may_have_sent=is_send,
                ) from None

    @staticmethod
    async def _backoff(attempt: int) -> None:
        delay = min(_BACKOFF_BASE * 2 ** (attempt - 1), _BACKOFF_CAP)
        await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter only
