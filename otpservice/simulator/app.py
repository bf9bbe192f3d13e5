"""The simulated Turkey SMS API v3 as a Litestar app, plus admin and a dev inbox.

Provider paths live under ``/api/v3`` with the real URLs, field names and HTTP
statuses (NOTES.md). Types deliberately vary between endpoints as the real API's
do (``result`` is ``true`` on POST send, ``"true"`` on OTP and status, ``1`` on the
GET send; ``sms_id`` a number or a string), so a client is exercised on all of them.

Faults (``/_admin/faults``) are applied around the provider paths only, in
``SimulatorApp.__call__``, outside Litestar's exception handling so that ``reset``
can really abort the connection. Which faults still process the request (and so
may deliver the SMS, as a real provider might before failing to answer):
``latency`` (then answers normally), ``hang`` (then sleeps 60 s), ``malformed_json``
(answer truncated), ``reset`` (answer cut off mid-body). ``http_5xx`` and ``html``
answer before processing, like a gateway or maintenance page would.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx
from litestar import Litestar, Request, Response, delete, get, patch, post, route
from litestar.params import FromPath, JSONBody
from litestar.types import Message, Receive, Scope, Send

from .state import (
    EDITABLE_FIELDS,
    FAULT_MODES,
    OUTCOMES,
    Account,
    Faults,
    InboxMessage,
    SimulatorState,
    mask_key,
    sms_parts,
)

API_PREFIX: Final = "/api/v3/"
PROVIDER_TZ: Final = timezone(timedelta(hours=3))  # Europe/Istanbul, no DST
HANG_SECONDS: Final = 60.0

MESSAGES: Final = {
    "TS-1022": "The number did not receive the message",
    "TS-1023": "The number out of coverage did not receive the message yet",
    "TS-1024": "The message was sent successfully",
    "TS-1025": "The mobile number has not been entered. The phone number is empty",
    "TS-1026": "Message text is empty .. No message text has been written",
    "TS-1027": "There is insufficient balance in your account",
    "TS-1028": "Sender ID is not active for your account",
    "TS-1029": "The Sender ID does not exist .. Please make sure you type correctly",
    "TS-1030": "Your account is inactive with the SMS service provider",
    "TS-1031": "The api-key is invalid",
    "TS-1032": "The number to which the message is sent is international outside Turkey. "
    "Your account is not activated for international SMS",
    "TS-1033": "The data sent through the link is incorrect",
    "TS-1034": "The mobile number to which the message was sent is invalid",
    "TS-1040": "operation_success",
    "TS-1050": "Contact key is empty and not written",
    "TS-1051": "Sending title is empty and not written",
    "TS-1052": "Message ID is not written",
    "TS-1060": "Exceeded the limit of the number of messages in the last minute",
    "TS-1061": "Contact key is not active for sending (POST)",
    "TS-1062": "Contact key is not active for sending (GET)",
    "TS-1063": "Checking message status is not active for the contact key",
    "TS-1064": "Message status check is successful",
    "TS-1065": "Checking balance is not active for your account's contact key",
}
HTTP_STATUS: Final = {
    "TS-1031": 401,
    "TS-1027": 403,
    "TS-1028": 403,
    "TS-1060": 403,
    "TS-1061": 403,
    "TS-1065": 403,
    "TS-1033": 400,
}
LANG_NAMES: Final = {0: "English", 1: "Turkish", 2: "Arabic"}
CONTENT_TYPES: Final = {0: "Transactional", 1: "High Quality", 2: "Advertising"}
OTP_TEXTS: Final = {
    0: "Your verification code is {code}",
    1: "Doğrulama kodunuz: {code}",
    2: "رمز التحقق الخاص بك هو {code}",
}
COUNTRIES: Final = {
    "90": "Turkey-TR",
    "1": "United States-US",
    "44": "United Kingdom-GB",
    "49": "Germany-DE",
    "33": "France-FR",
    "31": "Netherlands-NL",
    "966": "Saudi Arabia-SA",
    "971": "United Arab Emirates-AE",
    "964": "Iraq-IQ",
    "963": "Syria-SY",
    "962": "Jordan-JO",
}
STATUS_TEXTS: Final = {
    "delivered": ("Number received the message", "TS-1024"),
    "not_delivered": ("The number did not receive the message", "TS-1022"),
    "out_of_coverage": ("The number out of coverage did not receive the message yet", "TS-1023"),
    "pending": ("Waiting for the delivery report", ""),
}
INBOX_TEMPLATE: Final = "inbox.html"


class Refused(Exception):
    """A provider refusal with its ``TS-`` code; turned into the documented answer."""

    def __init__(self, code: str, failure_result: object = False) -> None:
        super().__init__(code)
        self.code = code
        self.failure_result = failure_result


class SimulatedReset(httpx.RemoteProtocolError):
    """Raised after a partial answer: uvicorn aborts the socket, and in-process
    (``httpx.ASGITransport``) it surfaces as the transport error httpx would raise."""


# --- wire helpers ---------------------------------------------------------------------


def _value(v: object) -> str:
    """Every parameter as the string PHP would see (JSON ints and bools included)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else ""
    return str(v).strip()


def print_r(fields: dict[str, Any]) -> str:
    """A flat PHP ``print_r`` dump: ``true`` prints as ``1``, ``false`` as nothing."""
    lines = ["Array", "("]
    lines += [f"    [{k}] => {_value(v)}" for k, v in fields.items()]
    lines += [")", ""]
    return "\n".join(lines)


def answer(fields: dict[str, Any], params: dict[str, str], status: int = 200) -> Response[bytes]:
    if params.get("response_type", "").lower() == "json":
        body = json.dumps(fields, ensure_ascii=False).encode()
        return Response(body, status_code=status, media_type="application/json")
    return Response(print_r(fields).encode(), status_code=status, media_type="text/html")


def refusal(exc: Refused, params: dict[str, str]) -> Response[bytes]:
    fields = {
        "result": exc.failure_result,
        "result_code": exc.code,
        "result_message": MESSAGES[exc.code],
    }
    return answer(fields, params, HTTP_STATUS.get(exc.code, 200))


async def read_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Query string merged with a JSON or form body (the body wins)."""
    params = {k: _value(v) for k, v in request.query_params.items()}
    raw = await request.body()
    if not raw.strip():
        return params
    content_type = request.headers.get("content-type", "")
    if "form" in content_type:
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return params
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refused("TS-1033") from None
    if not isinstance(body, dict):
        raise Refused("TS-1033")
    params.update({str(k): _value(v) for k, v in body.items()})
    return params


def country_of(mobile: str) -> str:
    for length in (3, 2, 1):
        if mobile[:length] in COUNTRIES:
            return COUNTRIES[mobile[:length]]
    return "International"


def operator_of(mobile: str) -> str:
    if not mobile.startswith("90"):
        return "International"
    prefix = mobile[2:4]
    return {"53": "Turkcell", "54": "Vodafone", "50": "Turk Telekom", "55": "Turk Telekom"}.get(
        prefix, "Turkcell"
    )


def now_provider() -> datetime:
    return datetime.now(PROVIDER_TZ).replace(microsecond=0)


def small_int(params: dict[str, str], name: str, default: int, allowed: range) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) not in allowed:
        raise Refused("TS-1033")
    return int(raw)


# --- the provider's rules -------------------------------------------------------------


class Provider:
    """The provider's checks in its documented order; raises ``Refused``."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def account(self, params: dict[str, str]) -> Account:
        key = params.get("api_key", "")
        if not key:
            raise Refused("TS-1050")
        account = self.state.accounts.get(key)
        if account is None:
            raise Refused("TS-1031")
        if not account.active:
            raise Refused("TS-1030")
        return account

    def sender(self, account: Account, title: str) -> str:
        if not title:
            raise Refused("TS-1051")
        state = account.sender_ids.get(title)
        if state is None:
            raise Refused("TS-1029")
        if state != "active":
            raise Refused("TS-1028")
        return title

    def mobile(self, account: Account, mobile: str) -> str:
        if not mobile:
            raise Refused("TS-1025")
        if not mobile.isdigit():
            raise Refused("TS-1034")
        if mobile.startswith("90"):
            if len(mobile) != 12:
                raise Refused("TS-1034")
        elif mobile.startswith("0") or not 8 <= len(mobile) <= 15:
            raise Refused("TS-1034")
        elif not account.international_enabled:
            raise Refused("TS-1032")
        return mobile

    def deliver(
        self, account: Account, *, mobile: str, text: str, sender: str, kind: str
    ) -> tuple[InboxMessage, int]:
        """Rate limit, charge and store; returns the message and the last-minute count."""
        sent_recently = account.sends_last_minute()
        if sent_recently >= account.per_minute_limit:
            raise Refused("TS-1060")
        parts, encoding = sms_parts(text)
        if mobile.startswith("90"):
            if account.local_balance_sms < parts:
                raise Refused("TS-1027")
            account.local_balance_sms -= parts
        else:
            cost = round(parts * self.state.international_price_tl, 2)
            if account.international_balance_tl + 1e-9 < cost:
                raise Refused("TS-1027")
            account.international_balance_tl = round(account.international_balance_tl - cost, 2)
        account.recent_sends.append(_monotonic())
        message = InboxMessage(
            sms_id=self.state.new_sms_id(),
            mobile=mobile,
            text=text,
            sender=sender,
            sent_at=now_provider().isoformat(),
            parts=parts,
            encoding=encoding,
            kind=kind,
            api_key=account.api_key,
        )
        self.state.inbox.append(message)
        self.state.sent[message.sms_id] = message
        return message, sent_recently + 1


def _monotonic() -> float:
    return time.monotonic()


# --- ASGI wrapper applying faults -----------------------------------------------------


class SimulatorApp(Litestar):
    """Litestar with the fault switchboard in front of the provider paths."""

    sim_state: SimulatorState

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await super().__call__(scope, receive, send)
            return
        self.sim_state.provider_requests += 1
        receive, api_key = await _peek_api_key(scope, receive)
        fault = self.sim_state.faults_for(api_key).take()
        mode = fault.mode
        if mode == "latency":
            await asyncio.sleep(max(0, fault.latency_ms) / 1000)
        if mode in ("none", "latency"):
            await super().__call__(scope, receive, send)
            return
        if mode.startswith("http_5"):
            status = int(mode.removeprefix("http_"))
            page = f"<html><head><title>{status}</title></head><body><center><h1>{status}"
            page += "</h1></center><hr><center>nginx</center></body></html>\n"
            await _send_whole(send, status, "text/html", page.encode())
            return
        if mode == "html":
            page = (
                "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                "<body><p>Checking your browser before accessing the site.</p></body></html>"
            )
            await _send_whole(send, 200, "text/html; charset=UTF-8", page.encode())
            return
        status, headers, body = await self._capture(scope, receive)
        if mode == "hang":
            await asyncio.sleep(HANG_SECONDS)
            await _send_raw(send, status, headers, body)
        elif mode == "malformed_json":
            await _send_whole(send, 200, "application/json", body[: max(1, len(body) // 2)])
        elif mode == "reset":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 3], "more_body": True}
            )
            raise SimulatedReset("simulator reset the connection")
        else:  # an unknown mode cannot be set through the admin API; answer normally
            await _send_raw(send, status, headers, body)

    async def _capture(self, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
        """Run the request through Litestar and keep the answer instead of sending it."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await super().__call__(scope, receive, keep)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start["status"], list(start.get("headers", [])), body


async def _peek_api_key(scope: Scope, receive: Receive) -> tuple[Receive, str | None]:
    """The request's ``api_key`` (query, JSON or form body), and a ``receive`` that replays
    the body read to find it: faults can then be set per account."""
    chunks: list[Any] = []  # what ``receive`` gave: request events, maybe a disconnect
    while True:
        message = await receive()
        chunks.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in chunks if m["type"] == "http.request")

    async def replay() -> Any:
        return chunks.pop(0) if chunks else await receive()

    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    key = query.get("api_key")
    if key is None and body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            data = dict(parse_qsl(body.decode("utf-8", "replace")))
        if isinstance(data, dict) and isinstance(data.get("api_key"), str):
            key = data["api_key"]
    return replay, key


async def _send_raw(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_whole(send: Send, status: int, media_type: str, body: bytes) -> None:
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await _send_raw(send, status, headers, body)


# --- inbox page -----------------------------------------------------------------------


def render_inbox(messages: list[InboxMessage], mobile: str | None) -> str:
    """The phone-style page: one thread per number, newest first, text escaped."""
    template = resources.files(__package__).joinpath(INBOX_TEMPLATE).read_text("utf-8")
    threads: dict[str, list[InboxMessage]] = {}
    for m in messages:  # already newest first, so threads come out by latest activity
        threads.setdefault(m.mobile, []).append(m)
    if not threads:
        body = '<p class="empty">No messages yet.</p>'
    else:
        chunks = []
        for number, items in threads.items():
            bubbles = "".join(
                '<div class="bubble"><div class="meta">'
                f"{html.escape(m.sender)} · {html.escape(m.sent_at)} · "
                f"{m.parts} part{'s' if m.parts != 1 else ''} · #{m.sms_id}</div>"
                f'<div class="text" dir="auto">{html.escape(m.text)}</div></div>'
                for m in items
            )
            chunks.append(
                f'<section class="thread"><h2>+{html.escape(number)}'
                f' <span class="count">{len(items)}</span></h2>{bubbles}</section>'
            )
        body = "".join(chunks)
    title = f"Inbox · +{html.escape(mobile)}" if mobile else "Inbox"
    return template.replace("{{ title }}", title).replace("{{ threads }}", body)


def wants_html(request: Request[Any, Any, Any]) -> bool:
    fmt = request.query_params.get("format", "").lower()
    if fmt:
        return fmt == "html"
    return "text/html" in request.headers.get("accept", "")


# --- app factory ----------------------------------------------------------------------


def create_simulator(state: SimulatorState | None = None) -> Litestar:
    """A fresh simulator app over ``state`` (whose current contents become the reset point)."""
    state = state if state is not None else SimulatorState()
    state.mark_initial()
    provider = Provider(state)

    async def guarded(request: Request[Any, Any, Any], handler: Any) -> Response[bytes]:
        params: dict[str, str] = {k: _value(v) for k, v in request.query_params.items()}
        try:
            params = await read_params(request)
            result: Response[bytes] = handler(params)
            return result
        except Refused as exc:
            return refusal(exc, params)

    def send_common(
        params: dict[str, str], *, mobile_field: str, lang_field: str, get_form: bool
    ) -> dict[str, Any]:
        account = provider.account(params)
        if get_form and not account.get_enabled:
            raise Refused("TS-1062", failure_result="false")
        if not get_form and not account.post_enabled:
            raise Refused("TS-1061")
        sender = provider.sender(account, params.get("title", ""))
        mobile = provider.mobile(account, params.get(mobile_field, ""))
        text = params.get("text", "")
        if not text:
            raise Refused("TS-1026")
        lang = small_int(params, lang_field, 2, range(3))
        content = small_int(params, "content_type", 0, range(3))
        small_int(params, "report", 1, range(2))
        message, last_minute = provider.deliver(
            account, mobile=mobile, text=text, sender=sender, kind="sms"
        )
        fields: dict[str, Any] = {
            "result": 1 if get_form else True,
            "sms_id": str(message.sms_id) if get_form else message.sms_id,
            "total_has_sent_last_1_min": last_minute,
            "number_of_sms": message.parts,
            "result_code": "TS-1024",
            "result_message": MESSAGES["TS-1024"],
            "sms_lang": LANG_NAMES[lang],
            "content_type": CONTENT_TYPES[content],
            "country": country_of(mobile),
        }
        if params.get("report", "1") != "1":
            fields = {k: fields[k] for k in ("result", "sms_id", "result_code", "result_message")}
        return fields

    @route(f"{API_PREFIX}otp/otp_get.php", http_method=["GET", "POST"])
    async def otp(request: Request[Any, Any, Any]) -> Response[bytes]:
        def handle(params: dict[str, str]) -> Response[bytes]:
            try:
                account = provider.account(params)
                if not (account.get_enabled and account.otp_enabled):
                    raise Refused("TS-1062")
                mobile = provider.mobile(account, params.get("mobile", ""))
                digits = small_int(params, "digits", 4, range(4, 7))
                lang = small_int(params, "lang", 2, range(3))
                small_int(params, "report", 1, range(2))
            except Refused as exc:
                exc.failure_result = "false"
                raise
            if state.next_otp_codes:
                code = state.next_otp_codes.pop(0)
            else:
                code = "".join(secrets.choice("0123456789") for _ in range(digits))
            text = OTP_TEXTS[lang].format(code=code)
            try:
                message, last_minute = provider.deliver(
                    account, mobile=mobile, text=text, sender="OTP", kind="otp"
                )
            except Refused as exc:
                exc.failure_result = "false"
                raise
            return answer(
                {
                    "result": "true",
                    "otp_code": code,
                    "sms_id": message.sms_id,
                    "number_of_sms": str(message.parts),
                    "total_has_sent_last_1_min": last_minute,
                    "result_code": "TS-1024",
                    "result_message": MESSAGES["TS-1024"],
                    "sms_lang": LANG_NAMES[lang],
                    "country": country_of(mobile),
                },
                params,
            )

        return await guarded(request, handle)

    @post(f"{API_PREFIX}gonder/add-content", status_code=200)
    async def send_post(request: Request[Any, Any, Any]) -> Response[bytes]:
        def handle(params: dict[str, str]) -> Response[bytes]:
            fields = send_common(
                params, mobile_field="sentto", lang_field="sms_lang", get_form=False
            )
            return answer(fields, params)

        return await guarded(request, handle)

    @get(f"{API_PREFIX}get/get.php")
    async def send_get(request: Request[Any, Any, Any]) -> Response[bytes]:
        def handle(params: dict[str, str]) -> Response[bytes]:
            try:
                fields = send_common(
                    params, mobile_field="mobile", lang_field="lang", get_form=True
                )
            except Refused as exc:
                exc.failure_result = "false"
                raise
            return answer(fields, params)

        return await guarded(request, handle)

    @route(f"{API_PREFIX}sms-durumu/sms_durumu.php", http_method=["GET", "POST"])
    async def status(request: Request[Any, Any, Any]) -> Response[bytes]:
        def handle(params: dict[str, str]) -> Response[bytes]:
            account = provider.account(params)
            if not account.status_enabled:
                raise Refused("TS-1063")
            sms_id = params.get("sms_id", "")
            if not sms_id:
                raise Refused("TS-1052")
            if not sms_id.isdigit():
                raise Refused("TS-1033")
            message = state.sent.get(int(sms_id))
            if message is None or message.api_key != account.api_key:
                raise Refused("TS-1033")
            outcome = state.delivery_outcomes.get(message.mobile, "delivered")
            status_text, status_code = STATUS_TEXTS[outcome]
            sent = datetime.fromisoformat(message.sent_at)
            return answer(
                {
                    "result": "true",
                    "result_code": "TS-1064",
                    "result_message": MESSAGES["TS-1064"],
                    "sender_id": message.sender,
                    "date_of_sending": sent.strftime("%Y-%m-%d"),
                    "time_of_sending": sent.strftime("%H:%M:%S"),
                    "sms_status": status_text,
                    "sms_status_code": status_code,
                    "sms_balance": f"{message.parts} SMS",
                    "operator": operator_of(message.mobile),
                },
                params,
            )

        return await guarded(request, handle)

    @route(f"{API_PREFIX}bakiye_sorgulama/add-content", http_method=["GET", "POST"])
    async def balance(request: Request[Any, Any, Any]) -> Response[bytes]:
        def handle(params: dict[str, str]) -> Response[bytes]:
            account = provider.account(params)
            if not account.balance_enabled:
                raise Refused("TS-1065")
            return answer(
                {
                    "result": True,
                    "result_code": "TS-1040",
                    "result_message": MESSAGES["TS-1040"],
                    "api_key": mask_key(account.api_key),
                    "local_balance_sms": account.local_balance_sms,
                    "international_balance_tl": f"{account.international_balance_tl:.2f}",
                },
                params,
            )

        return await guarded(request, handle)

    # -- admin ------------------------------------------------------------------------

    def faults_view(api_key: str | None = None) -> dict[str, Any]:
        f = state.faults if api_key is None else state.account_faults.get(api_key, Faults())
        view: dict[str, Any] = {"mode": f.mode, "latency_ms": f.latency_ms, "times": f.times}
        if api_key is not None:
            view["account"] = mask_key(api_key)
        return view

    @get("/_admin/faults")
    async def faults_get() -> dict[str, Any]:
        return faults_view()

    @post("/_admin/faults", status_code=200)
    async def faults_set(data: JSONBody[dict[str, Any]]) -> Response[Any]:
        mode = data.get("mode", "none")
        latency = data.get("latency_ms", 0) or 0
        times = data.get("times")
        api_key = data.get("api_key")
        if (
            not (api_key is None or (isinstance(api_key, str) and api_key))
            or mode not in FAULT_MODES
            or not isinstance(latency, int)
            or not (times is None or (isinstance(times, int) and times > 0))
        ):
            return Response(
                {
                    "error": f"mode must be one of {list(FAULT_MODES)}; "
                    "latency_ms an int; times a positive int or null; api_key (one "
                    "account's faults) a string"
                },
                status_code=400,
            )
        if api_key is None:
            state.faults = Faults(mode=mode, latency_ms=latency, times=times)
        else:
            state.account_faults[api_key] = Faults(mode=mode, latency_ms=latency, times=times)
        return Response(faults_view(api_key))

    @delete("/_admin/faults", status_code=204)
    async def faults_clear() -> None:
        state.faults = Faults()
        state.account_faults.clear()

    @post("/_admin/accounts", status_code=201)
    async def account_put(data: JSONBody[dict[str, Any]]) -> Response[Any]:
        fields = dict(data)
        api_key = fields.pop("api_key", None)
        sender_id = fields.pop("sender_id", "")
        if not isinstance(api_key, str) or not api_key:
            return Response({"error": "api_key is required"}, status_code=400)
        try:
            state.add_account(api_key, sender_id=sender_id, **fields)
        except TypeError as exc:
            return Response({"error": str(exc)}, status_code=400)
        return Response(state.accounts[api_key].public(), status_code=201)

    @patch("/_admin/accounts/{api_key:str}")
    async def account_patch(
        api_key: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> Response[Any]:
        account = state.accounts.get(api_key)
        if account is None:
            return Response({"error": "unknown account"}, status_code=404)
        unknown = set(data) - EDITABLE_FIELDS
        if unknown:
            return Response({"error": f"unknown fields: {sorted(unknown)}"}, status_code=400)
        for name, value in data.items():
            setattr(account, name, value)
        return Response(account.public())

    @get("/_admin/accounts/{api_key:str}")
    async def account_get(api_key: FromPath[str]) -> Response[Any]:
        account = state.accounts.get(api_key)
        if account is None:
            return Response({"error": "unknown account"}, status_code=404)
        return Response(account.public())

    @post("/_admin/delivery", status_code=200)
    async def delivery_set(data: JSONBody[dict[str, Any]]) -> Response[Any]:
        mobile, outcome = data.get("mobile"), data.get("outcome")
        if not isinstance(mobile, str) or outcome not in OUTCOMES:
            return Response(
                {"error": f"mobile (string) and outcome in {list(OUTCOMES)} are required"},
                status_code=400,
            )
        state.delivery_outcomes[mobile] = outcome
        return Response({"mobile": mobile, "outcome": outcome})

    @get("/_admin/stats")
    async def stats() -> dict[str, Any]:
        return {"provider_requests": state.provider_requests, "messages": len(state.sent)}

    @delete("/_admin/inbox", status_code=204)
    async def inbox_clear() -> None:
        state.inbox.clear()

    @post("/_admin/reset", status_code=204)
    async def reset() -> None:
        state.reset()

    @get("/inbox")
    async def inbox(request: Request[Any, Any, Any]) -> Response[Any]:
        mobile = request.query_params.get("mobile") or None
        messages = state.messages_for(mobile)
        if wants_html(request):
            page = render_inbox(messages, mobile)
            return Response(page, media_type="text/html")
        return Response({"messages": [m.public() for m in messages]})

    @get("/")
    async def index() -> dict[str, Any]:
        return {"simulator": "Turkey SMS API v3", "api": "/api/v3", "inbox": "/inbox"}

    app = SimulatorApp(
        route_handlers=[
            otp,
            send_post,
            send_get,
            status,
            balance,
            faults_get,
            faults_set,
            faults_clear,
            account_put,
            account_patch,
            account_get,
            delivery_set,
            inbox_clear,
            stats,
            reset,
            inbox,
            index,
        ],
        openapi_config=None,
    )
    app.sim_state = state
    return app
