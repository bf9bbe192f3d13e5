"""The simulated Turkey SMS API v3 as a Litestar app, plus admin and a dev inbox.

Provider paths live under ``/api/v3`` with the real URLs, field names and HTTP
statuses (NOTES.md). Types deliberately vary between endpoints as the real API's
do (``result`` is ``true`` on POST send, ``"true"`` on OTP and status, ``1`` on the
GET send; ``sms_id`` a number or a string), so a client is exercised on all of them.

The provider's wire format is wire.py, its rules provider.py, the faults around its paths
faults.py, the dev inbox inbox.py; this module is the routes.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from litestar import Litestar, Request, Response, delete, get, patch, post, route
from litestar.params import FromPath, JSONBody

from .faults import API_PREFIX, SimulatorApp
from .inbox import render_inbox, wants_html
from .provider import Provider
from .state import (
    EDITABLE_FIELDS,
    FAULT_MODES,
    OUTCOMES,
    Faults,
    SimulatorState,
    mask_key,
)
from .wire import (
    CONTENT_TYPES,
    LANG_NAMES,
    MESSAGES,
    OTP_TEXTS,
    STATUS_TEXTS,
    Refused,
    answer,
    country_of,
    operator_of,
    php_value,
    read_params,
    refusal,
    small_int,
)

# --- app factory ----------------------------------------------------------------------


def create_simulator(state: SimulatorState | None = None) -> Litestar:
    """A fresh simulator app over ``state`` (whose current contents become the reset point)."""
    state = state if state is not None else SimulatorState()
    state.mark_initial()
    provider = Provider(state)

    async def guarded(request: Request[Any, Any, Any], handler: Any) -> Response[bytes]:
        params: dict[str, str] = {k: php_value(v) for k, v in request.query_params.items()}
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
