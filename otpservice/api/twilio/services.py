"""Verify Service resources, read-only: `GET /v2/Services/{sid}` and `GET /v2/Services`,
answered from OTP_TWILIO_SERVICES (applications read their service's settings at start-up).
A caller sees its own account's services only; another account's answers 20404."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency

from otpservice.api.twilio.auth import Caller
from otpservice.api.twilio.errors import invalid_parameter
from otpservice.config import Settings
from otpservice.twilio_config import TwilioService

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# A service's subresources as Twilio links them (only the first two are served here).
LINKS = {
    "verifications": "Verifications",
    "verification_checks": "VerificationCheck",
    "rate_limits": "RateLimits",
    "messaging_configurations": "MessagingConfigurations",
    "entities": "Entities",
    "webhooks": "Webhooks",
    "access_tokens": "AccessTokens",
}


class ServiceBody(msgspec.Struct, frozen=True):
    """A Verify Service resource, with Twilio's field names (features we lack are off)."""

    sid: str
    account_sid: str
    friendly_name: str | None
    code_length: int
    lookup_enabled: bool
    psd2_enabled: bool
    skip_sms_to_landlines: bool
    dtmf_input_required: bool
    tts_name: str | None
    do_not_share_warning_enabled: bool
    custom_code_enabled: bool
    push: dict[str, Any]
    totp: dict[str, Any]
    default_template_sid: str | None
    whatsapp: dict[str, Any]
    passkeys: dict[str, Any] | None
    verify_event_subscription_enabled: bool
    date_created: str | None  # not kept: services live in the configuration
    date_updated: str | None
    url: str
    links: dict[str, str]


class PageMeta(msgspec.Struct, frozen=True):
    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str


class ServicePage(msgspec.Struct, frozen=True):
    services: list[ServiceBody]
    meta: PageMeta


def service_body(service: TwilioService, base_url: str) -> ServiceBody:
    url = f"{base_url}/v2/Services/{service.sid}"
    return ServiceBody(
        sid=service.sid,
        account_sid=service.account,
        friendly_name=service.friendly_name,
        code_length=service.code_length,
        lookup_enabled=False,
        psd2_enabled=False,
        skip_sms_to_landlines=False,
        dtmf_input_required=False,
        tts_name=None,
        do_not_share_warning_enabled=False,
        custom_code_enabled=False,
        push={"include_date": False, "apn_credential_sid": None, "fcm_credential_sid": None},
        totp={"issuer": None, "time_step": 30, "code_length": 6, "skew": 1},
        default_template_sid=None,
        whatsapp={"msg_service_sid": None, "from": None},
        passkeys=None,
        verify_event_subscription_enabled=False,
        date_created=None,
        date_updated=None,
        url=url,
        links={name: f"{url}/{path}" for name, path in LINKS.items()},
    )


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


@get("/Services/{service_sid:str}")
async def fetch_service(
    request: Request[Any, Any, Any], twilio_service: NamedDependency[TwilioService]
) -> ServiceBody:
    return service_body(twilio_service, _base_url(request))


def _page_number(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid_parameter(name)
    return int(raw)


@get("/Services")
async def list_services(
    request: Request[Any, Any, Any], caller: NamedDependency[Caller]
) -> ServicePage:
    """The caller's services, by SID, in Twilio's page shape (Page and PageSize)."""
    settings: Settings = request.app.state.settings
    size = _page_number(
        request.query_params.get("PageSize"), "PageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE
    )
    page = _page_number(request.query_params.get("Page"), "Page", 0, 1_000_000, 0)
    mine = sorted(
        (s for s in settings.twilio.services.values() if s.account == caller.account_sid),
        key=lambda s: s.sid,
    )
    base = _base_url(request)

    def page_url(n: int) -> str:
        return f"{base}/v2/Services?{urlencode({'PageSize': size, 'Page': n})}"

    chunk = mine[page * size : (page + 1) * size]
    return ServicePage(
        services=[service_body(s, base) for s in chunk],
        meta=PageMeta(
            page=page,
            page_size=size,
            first_page_url=page_url(0),
            previous_page_url=page_url(page - 1) if page > 0 else None,
            url=page_url(page),
            next_page_url=page_url(page + 1) if (page + 1) * size < len(mine) else None,
            key="services",
        ),
    )
