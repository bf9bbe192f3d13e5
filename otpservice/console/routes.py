"""The console's pages: sign-in and sign-out, then one route per page, all server-rendered.

Every page but the sign-in form needs a session (else: 303 to the sign-in form); every form
that changes something carries the session's CSRF token (else: 403 csrf_failed, nothing done).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template

from otpservice.api.auth import MAX_KEY_LENGTH, find_client
from otpservice.console.data import ConsoleData
from otpservice.console.session import (
    COOKIE_PATH,
    PRE_SESSION_COOKIE,
    PRE_SESSION_SECONDS,
    SESSION_COOKIE,
    ConsoleAuth,
    ConsoleSession,
    new_session_id,
)
from otpservice.domain.requester import network_of
from otpservice.errors import CsrfFailed, InvalidRequest, wait_seconds

log = structlog.get_logger("otpservice.console")

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Window = Annotated[str, QueryParameter(max_length=8)]
Cursor = Annotated[str, QueryParameter(max_length=2048)]
WINDOWS = ("hour", "day", "week")
SIGN_IN = f"{COOKIE_PATH}/sign-in"
HOME = f"{COOKIE_PATH}/overview"
PAGES = (
    ("overview", "Overview"),
    ("countries", "Countries & prefixes"),
    ("search", "Search"),
    ("live", "Live"),
)


class SignInRequired(Exception):
    """No valid session: the router answers with a redirect to the sign-in form."""


def sign_in_redirect(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return Redirect(SIGN_IN, status_code=303)


def auth_of(request: Request[Any, Any, Any]) -> ConsoleAuth:
    state = request.app.state
    auth: ConsoleAuth | None = getattr(state, "console_auth", None)
    if auth is None or auth.redis is not state.store.redis:
        auth = state.console_auth = ConsoleAuth(state.store.redis, state.settings)
    return auth


def ensure_data(state: Any) -> ConsoleData:
    data: ConsoleData | None = getattr(state, "console_data", None)
    if data is None or data.state is not state:
        data = state.console_data = ConsoleData(state)
    return data


def data_of(request: Request[Any, Any, Any]) -> ConsoleData:
    return ensure_data(request.app.state)


def _cookie(request: Request[Any, Any, Any], key: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        path=COOKIE_PATH,
        max_age=max_age,
        httponly=True,
        secure=not request.app.state.settings.development,
        samesite="strict",
    )


def _expired(request: Request[Any, Any, Any], key: str) -> Cookie:
    return _cookie(request, key, "", 0)


async def current_session(request: Request[Any, Any, Any]) -> ConsoleSession:
    session = await auth_of(request).find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    return session


def network_for_throttle(request: Request[Any, Any, Any]) -> str:
    """The caller's /24 (IPv4) or /64 (IPv6), as the check delay keys a checker."""
    address = request.client.host if request.client else ""
    try:
        _ip, net = network_of(address)
    except InvalidRequest:  # not an IP address (an in-process test client)
        net = None
    return net or address or "unknown"


def require_csrf(session: ConsoleSession, form: dict[str, str]) -> None:
    presented = form.get("csrf") or ""
    if not hmac.compare_digest(presented.encode(), session.csrf.encode()):
        raise CsrfFailed("This form has no valid token: reload the page and try again.")


def page(
    name: str,
    session: ConsoleSession,
    request: Request[Any, Any, Any],
    status_code: int = 200,
    **context: Any,
) -> Template:
    return Template(
        template_name=f"{name}.html",
        context={
            "page": name,
            "pages": PAGES,
            "operator": session.client,
            "csrf": session.csrf,
            "development": request.app.state.settings.development,
            "error": "",
            **context,
        },
        status_code=status_code,
    )


class ConsoleController(Controller):
    path = COOKIE_PATH
    include_in_schema = False
    exception_handlers = {SignInRequired: sign_in_redirect}

    @get("/")
    async def home(self) -> Redirect:
        return Redirect(HOME, status_code=303)

    @get("/sign-in")
    async def sign_in_form(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if await auth_of(request).find(request.cookies.get(SESSION_COOKIE)) is not None:
            return Redirect(HOME, status_code=303)
        return self._sign_in_page(request)

    def _sign_in_page(
        self,
        request: Request[Any, Any, Any],
        *,
        error: str = "",
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Template:
        auth = auth_of(request)
        seed = request.cookies.get(PRE_SESSION_COOKIE) or ""
        cookies = []
        if len(seed) != 43:  # token_urlsafe(32)
            seed = new_session_id()
            cookies.append(_cookie(request, PRE_SESSION_COOKIE, seed, PRE_SESSION_SECONDS))
        return Template(
            template_name="sign_in.html",
            context={
                "csrf": auth.signer.csrf(seed),
                "error": error,
                "development": request.app.state.settings.development,
            },
            status_code=status_code,
            cookies=cookies,
            headers=headers or {},
        )

    @post("/sign-in", status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        auth = auth_of(request)
        if not auth.signer.csrf_ok(request.cookies.get(PRE_SESSION_COOKIE), data.get("csrf")):
            raise CsrfFailed("The sign-in form has no valid token: reload it and try again.")
        network = network_for_throttle(request)
        wait = await auth.attempt(network)
        if wait > 0:
            seconds = wait_seconds(wait)
            log.warning("console.sign_in_delayed", network=network, retry_after=seconds)
            return self._sign_in_page(
                request,
                error=f"Too many failed sign-ins from your network: wait {seconds} s.",
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        key = data.get("key", "").strip()
        client = None
        if 0 < len(key) <= MAX_KEY_LENGTH:
            client = find_client(request.app.state.settings.clients, key)
        if client is None or not client.admin:
            log.warning("console.sign_in_failed", network=network)
            return self._sign_in_page(
                request, error="That is not an admin key of this service.", status_code=401
            )
        await auth.succeeded(network)
        cookie_value = await auth.open(client)
        log.info("console.sign_in", operator=client.name)
        max_age = request.app.state.settings.console_session_seconds
        return Redirect(
            HOME,
            status_code=303,
            cookies=[
                _cookie(request, SESSION_COOKIE, cookie_value, max_age),
                _expired(request, PRE_SESSION_COOKIE),
            ],
        )

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any], data: Form) -> Redirect:
        session = await current_session(request)
        require_csrf(session, data)
        await auth_of(request).close(session)
        log.info("console.sign_out", operator=session.client)
        return Redirect(SIGN_IN, status_code=303, cookies=[_expired(request, SESSION_COOKIE)])

    @get("/overview")
    async def overview(self, request: Request[Any, Any, Any]) -> Template:
        session = await current_session(request)
        overview = await data_of(request).overview()
        return page("overview", session, request, overview=overview)

    @get("/countries")
    async def countries(self, request: Request[Any, Any, Any], window: Window = "day") -> Template:
        session = await current_session(request)
        return await self._countries_page(request, session, window)

    async def _countries_page(
        self,
        request: Request[Any, Any, Any],
        session: ConsoleSession,
        window: str,
        *,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        saved: str = "",
        status_code: int = 200,
    ) -> Template:
        data = data_of(request)
        window = window if window in WINDOWS else "day"
        blocks, blocks_waiting = await data.blocks()
        policy, policy_waiting = await data.policy()
        if errors or values:
            policy = [
                msgspec.structs.replace(
                    f,
                    value=(values or {}).get(f.name, f.value),
                    error=(errors or {}).get(f.name, ""),
                )
                for f in policy
            ]
        return page(
            "countries",
            session,
            request,
            status_code=status_code,
            windows=WINDOWS,
            window=window,
            geo=await data.geography(window),
            blocks=blocks,
            blocks_waiting=blocks_waiting,
            policy=policy,
            policy_waiting=policy_waiting,
            saved=saved,
        )

    @get("/search")
    async def search_form(self, request: Request[Any, Any, Any]) -> Template:
        session = await current_session(request)
        return page("search", session, request, searched="")

    @post("/search", status_code=200)
    async def search(self, request: Request[Any, Any, Any], data: Form) -> Template:
        session = await current_session(request)
        require_csrf(session, data)
        query = data.get("q", "").strip()
        try:
            searched, found = await data_of(request).history(query)
        except InvalidRequest as exc:
            return page("search", session, request, status_code=422, searched="", error=exc.detail)
        return page(
            "search",
            session,
            request,
            searched=searched,
            events=found.events,
            waiting=found.waiting,
        )

    @get("/live")
    async def live(self, request: Request[Any, Any, Any]) -> Template:
        session = await current_session(request)
        recent = await data_of(request).live("")
        return page(
            "live",
            session,
            request,
            events=recent.events,
            cursor=recent.cursor,
            waiting=recent.waiting,
        )

    @get("/live/events")
    async def live_events(
        self, request: Request[Any, Any, Any], after: Cursor = ""
    ) -> Response[Any]:
        await current_session(request)
        fresh = await data_of(request).live(after)
        return Response({"events": fresh.events, "cursor": fresh.cursor})

    @post("/blocks/unblock", status_code=303)
    async def unblock(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        session = await current_session(request)
        require_csrf(session, data)
        kind, subject = data.get("kind", ""), data.get("subject", "").strip()
        lifted = await data_of(request).unblock(kind, subject, session.client)
        log.info("console.unblock", operator=session.client, scope=kind, lifted=lifted)
        return Redirect(f"{COOKIE_PATH}/countries#blocks", status_code=303)

    @post("/policy", status_code=200)
    async def change_policy(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        session = await current_session(request)
        require_csrf(session, data)
        values = {k: v for k, v in data.items() if k.startswith("OTP_")}
        errors, changed = await data_of(request).change_policy(session.client, values)
        if errors:
            return await self._countries_page(
                request, session, "day", errors=errors, values=values, status_code=422
            )
        log.info("console.policy_changed", operator=session.client, variables=changed)
        return await self._countries_page(
            request, session, "day", saved=", ".join(changed) or "nothing changed"
        )
