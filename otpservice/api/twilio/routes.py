"""The Twilio Verify v2 routes for SMS: a thin adapter over VerificationService.

Form fields are read by hand, as Twilio reads them: unknown ones are ignored, a bad one is
60200 naming the field. Everything else (limits, lifecycle, storage) is the domain's.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
from litestar import Request, Router, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from otpservice.api.twilio.auth import Caller, provide_caller, provide_twilio_service
from otpservice.api.twilio.errors import (
    CHANNEL_DISABLED,
    EXCEPTION_HANDLERS,
    TwilioError,
    invalid_parameter,
    not_found,
    resource_path,
)
from otpservice.api.twilio.schemas import (
    VerificationBody,
    VerificationCheckBody,
    check_body,
    verification_body,
)
from otpservice.api.twilio.services import fetch_service, list_services
from otpservice.api.v1 import provide_service
from otpservice.config import ClientKey
from otpservice.domain.codes import is_code_shape
from otpservice.domain.models import Status, Verification
from otpservice.domain.phone import parse_phone
from otpservice.domain.requester import network_of
from otpservice.domain.send_request import CreateRequest, SendOptions, rate_limit_keys
from otpservice.domain.service import VerificationService
from otpservice.errors import InvalidPhone, InvalidRequest
from otpservice.twilio_config import MAX_FRIENDLY_NAME, NAMED_TEMPLATES, TwilioService

VERIFICATION_SID = re.compile(r"^VE[0-9a-f]{32}$")
LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
APP_HASH = re.compile(r"^[A-Za-z0-9+/]{11}$")
OTHER_CHANNELS = {"call", "email", "whatsapp", "sna", "auto", "rcs"}
# Twilio Verify features this service does not offer: refused rather than silently dropped.
REFUSED_ON_CREATE = (
    "Amount",
    "Payee",
    "CustomCode",
    "CustomMessage",
    "TemplateSid",
    "TemplateCustomSubstitutions",
    "ChannelConfiguration",
)
REFUSED_ON_CHECK = ("Amount", "Payee", "SnaClientToken")
DEVICE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
# The end user, for the per-network limits: Twilio has DeviceIp on creates only, so checks
# take it too (an extension), and both also take headers, which an SDK's HTTP client can add.
ADDRESS_HEADER = "X-Device-Ip"
DEVICE_HEADER = "X-Device-Id"
ARABIC_REGIONS = frozenset(
    {"AE", "BH", "DZ", "EG", "IQ", "JO", "KW", "LB", "LY", "MA", "OM", "PS", "QA", "SA", "SD"}
    | {"SY", "TN", "YE"}
)


def _field(form: FormMultiDict, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _refuse(form: FormMultiDict, names: tuple[str, ...]) -> None:
    for name in names:
        if _field(form, name):
            raise invalid_parameter(name, ": not supported by this service")


def _locale(raw: str | None, region: str) -> str:
    """Our SMS language for Twilio's Locale. Twilio picks it from the number's country when
    absent, and falls back to English when it has no translation; so do we."""
    if raw is None or raw == "":
        return "tr" if region == "TR" else "ar" if region in ARABIC_REGIONS else "en"
    if not LOCALE.match(raw):
        raise invalid_parameter("Locale")
    language = re.split(r"[-_]", raw.lower())[0]
    return language if language in ("en", "tr", "ar") else "en"


def _options(form: FormMultiDict, service: TwilioService, locale: str) -> SendOptions:
    name = _field(form, "CustomFriendlyName") or service.friendly_name or ""
    if len(name) > MAX_FRIENDLY_NAME or "{" in name or "}" in name:
        raise invalid_parameter("CustomFriendlyName")
    app_hash = _field(form, "AppHash") or None
    if app_hash is not None and not APP_HASH.match(app_hash):
        raise invalid_parameter("AppHash")
    # As on Twilio, the SMS names the service (CustomFriendlyName first); without a name and
    # a template of the service's own, the OTP_TEMPLATE_<locale> text.
    template = service.template or (NAMED_TEMPLATES[locale] if name else None)
    return SendOptions(
        code_length=service.code_length,
        ttl_seconds=service.ttl_seconds,
        template=template.replace("{name}", name) if template else None,
        app_hash=app_hash,
        link_rid=True,
        resend_cooldown_seconds=service.resend_cooldown_seconds,
        max_sends=service.max_sends,
        phone_10m=service.phone_10m,
        phone_24h=service.phone_24h,
    )


def _end_user(
    request: Request[Any, Any, Any], form: FormMultiDict
) -> tuple[str | None, str | None]:
    """The end user's address and device id: the DeviceIp/DeviceId parameter, else its header."""
    device_ip = _field(form, "DeviceIp") or request.headers.get(ADDRESS_HEADER) or None
    if device_ip is not None:
        try:
            network_of(device_ip)
        except InvalidRequest as exc:
            raise invalid_parameter("DeviceIp") from exc
    device_id = _field(form, "DeviceId") or request.headers.get(DEVICE_HEADER) or None
    if device_id is not None and not DEVICE_ID.match(device_id):
        raise invalid_parameter("DeviceId")
    return device_ip, device_id


def _create_request(
    request: Request[Any, Any, Any], form: FormMultiDict, service: TwilioService, locale: str
) -> CreateRequest:
    device_ip, device_id = _end_user(request, form)
    return CreateRequest(
        phone=_field(form, "To") or "",
        purpose=service.purpose,
        locale=locale,
        client_ip=device_ip,
        device_id=device_id,
        rate_limit_keys=_rate_limits(_field(form, "RateLimits")),
    )


def _rate_limits(raw: str | None) -> tuple[tuple[str, str], ...]:
    """Twilio's RateLimits (a JSON object of key -> value): our caller-defined rate-limit
    keys, with the budgets of OTP_RATE_LIMIT_KEYS."""
    if not raw:
        return ()
    try:
        given = msgspec.json.decode(raw, type=dict[str, str | int])
        return rate_limit_keys({k: str(v) for k, v in given.items()})
    except (msgspec.DecodeError, InvalidRequest) as exc:
        raise invalid_parameter("RateLimits") from exc


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


async def _find(
    request: Request[Any, Any, Any],
    service: VerificationService,
    client: ClientKey,
    twilio_service: TwilioService,
    sid: str,
) -> Verification:
    """A pending verification of this service by its `VE` sid."""
    if not VERIFICATION_SID.match(sid):
        raise not_found(resource_path(request))
    verification = await service.get(client, await service.id_for_rid(sid[2:]))
    if verification.purpose != twilio_service.purpose:
        raise not_found(resource_path(request))
    return verification


@post("/Services/{service_sid:str}/Verifications", status_code=201)
async def create_verification(
    request: Request[Any, Any, Any],
    caller: NamedDependency[Caller],
    twilio_service: NamedDependency[TwilioService],
    service: NamedDependency[VerificationService],
) -> VerificationBody:
    form = await request.form()
    channel = (_field(form, "Channel") or "").lower()
    if channel in OTHER_CHANNELS:
        raise TwilioError(400, CHANNEL_DISABLED, f"Delivery channel disabled: {channel.upper()}")
    if channel != "sms":
        raise invalid_parameter("Channel")
    _refuse(form, REFUSED_ON_CREATE)
    if (_field(form, "EnableSnaClientToken") or "false").lower() != "false":
        raise invalid_parameter("EnableSnaClientToken", ": not supported by this service")
    # A bad To is 60200 (a landline 60205), through the one error mapping.
    region = parse_phone(_field(form, "To") or "", service.settings.default_region).region
    locale = _locale(_field(form, "Locale"), region)
    verification, _ = await service.create(
        caller.client,
        _create_request(request, form, twilio_service, locale),
        options=_options(form, twilio_service, locale),
    )
    return verification_body(verification, twilio_service, base_url=_base_url(request))


@get("/Services/{service_sid:str}/Verifications/{sid:str}")
async def fetch_verification(
    request: Request[Any, Any, Any],
    sid: FromPath[str],
    caller: NamedDependency[Caller],
    twilio_service: NamedDependency[TwilioService],
    service: NamedDependency[VerificationService],
) -> VerificationBody:
    verification = await _find(request, service, caller.client, twilio_service, sid)
    return verification_body(verification, twilio_service, base_url=_base_url(request))


@post("/Services/{service_sid:str}/Verifications/{sid:str}", status_code=200)
async def update_verification(
    request: Request[Any, Any, Any],
    sid: FromPath[str],
    caller: NamedDependency[Caller],
    twilio_service: NamedDependency[TwilioService],
    service: NamedDependency[VerificationService],
) -> VerificationBody:
    form = await request.form()
    status = _field(form, "Status")
    if status not in (Status.CANCELED.value, Status.APPROVED.value):
        raise invalid_parameter("Status")
    verification = await _find(request, service, caller.client, twilio_service, sid)
    if status == Status.CANCELED.value:
        await service.cancel(caller.client, verification.id)
    else:
        await service.approve_out_of_band(caller.client, verification.id)
    return verification_body(
        verification,
        twilio_service,
        base_url=_base_url(request),
        status=status,
        updated=time.time(),
    )


@post("/Services/{service_sid:str}/VerificationCheck", status_code=200)
async def check_verification(
    request: Request[Any, Any, Any],
    caller: NamedDependency[Caller],
    twilio_service: NamedDependency[TwilioService],
    service: NamedDependency[VerificationService],
) -> VerificationCheckBody:
    form = await request.form()
    code = _field(form, "Code") or ""
    if not 4 <= len(code) <= 10:
        raise invalid_parameter("Code")
    _refuse(form, REFUSED_ON_CHECK)
    device_ip, device_id = _end_user(request, form)
    sid, to = _field(form, "VerificationSid"), _field(form, "To")
    if sid:
        verification = await _find(request, service, caller.client, twilio_service, sid)
    elif to:
        try:
            verification = await service.get_by_phone(
                caller.client, to, twilio_service.purpose, device_ip
            )
        except InvalidPhone as exc:
            raise invalid_parameter("To") from exc
    else:
        raise invalid_parameter("To", ": either To or VerificationSid is required")
    if not is_code_shape(code, twilio_service.code_length):
        # Twilio's answer to a code that cannot be right: still pending, not valid.
        return check_body(
            verification, twilio_service, status="pending", valid=False, updated=time.time()
        )
    result = await service.check(
        caller.client,
        verification.id,
        code,
        device_ip,
        device_id=device_id,
        code_length=twilio_service.code_length,
    )
    return check_body(
        verification,
        twilio_service,
        status=result.status.value,
        valid=result.valid,
        updated=time.time(),
    )


def twilio_router() -> Router:
    """Twilio Verify v2 (SMS), mounted at /v2. Twilio's own API reference documents it."""
    return Router(
        path="/v2",
        route_handlers=[
            fetch_service,
            list_services,
            create_verification,
            fetch_verification,
            update_verification,
            check_verification,
        ],
        dependencies={
            "caller": Provide(provide_caller),
            "twilio_service": Provide(provide_twilio_service),
            "service": Provide(provide_service, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
