"""/v1: request a code, check it, look at it, cancel it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, JSONBody, PathParameter
from litestar.routes import HTTPRoute

from otpservice.api import openapi as spec
from otpservice.api.auth import authenticate, provide_admin, provide_client
from otpservice.api.schemas import (
    BalanceOut,
    CheckByPhone,
    CheckCode,
    CheckOut,
    CreateVerification,
    DeliveryOut,
    VerificationOut,
    iso,
)
from otpservice.config import ClientKey
from otpservice.domain.send_request import CreateRequest, rate_limit_keys
from otpservice.domain.service import VerificationService

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=255,
        description="Retry-safe key: the same key and body within 24 h replays the first 201.",
    ),
]
VerificationId = Annotated[
    str,
    PathParameter(
        min_length=1,
        max_length=128,
        description="The verification's id.",
        examples=[Example(value="0" * 64)],
    ),
]


def provide_service(request: Request[Any, Any, Any]) -> VerificationService:
    service: NamedDependency[VerificationService] = request.app.state.service
    return service


def provide_service_after_client(
    request: Request[Any, Any, Any], client: NamedDependency[ClientKey]
) -> VerificationService:
    """The service, resolved after the client. Litestar resolves independent dependencies
    together in an anyio task group, which cost a refused request ~8% of its CPU (bench/);
    chained, they resolve one after the other without one."""
    return provide_service(request)


def allowed_methods(request: Request[Any, Any, Any]) -> str:
    """The methods of the matched path, for ``Allow``."""
    template = request.scope.get("path_template")
    for route in request.app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            return ", ".join(sorted(route.methods))
    return "OPTIONS"


def _has_body(request: Request[Any, Any, Any]) -> bool:
    """A POST that carries nothing (an admin action such as "resend" or "enable") needs no
    media type; one with a body must say it is JSON."""
    headers = request.headers
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in {"0", ""}


async def before_v1_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """Runs before the body is read: the key first, so that a caller without one learns
    nothing about the body it sent (no 415, 400 or 413 first) and costs no parsing; then
    bodies are JSON only (415).

    A hook rather than a guard: Litestar copies the route handler for every guard call,
    which cost a refused request ~4% of its CPU (bench/).

    OPTIONS is answered here: Litestar 2 builds its automatic OPTIONS answer from the first
    handler registered on a path, so for GET+DELETE on one path its Allow lists only one."""
    authenticate(request)
    if request.method == "OPTIONS":
        return Response(None, status_code=204, headers={"Allow": allowed_methods(request)})
    if request.method in {"POST", "PUT", "PATCH"} and _has_body(request):
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise HTTPException(status_code=415, detail="Send the body as application/json.")
    return None


async def create_verification(
    service: VerificationService,
    client: ClientKey,
    data: CreateVerification,
    idempotency_key: str | None,
) -> VerificationOut:
    """POST /v1/verifications once the request is read (here and in api/hot.py)."""
    request = CreateRequest(
        phone=data.phone,
        purpose=data.purpose,
        locale=data.locale,
        client_ip=data.client_ip,
        rate_limit_keys=rate_limit_keys(data.rate_limit_keys),
        device_id=data.device_id,
    )
    verification, _ = await service.create(client, request, idempotency_key)
    return VerificationOut.of(verification)


async def check_verification(
    service: VerificationService, client: ClientKey, verification_id: str, data: CheckCode
) -> CheckOut:
    """POST /v1/verifications/{id}/check once the request is read (here and in api/hot.py)."""
    result = await service.check(
        client, verification_id, data.code, data.client_ip, device_id=data.device_id
    )
    return CheckOut.of(result)


class Verifications(Controller):
    path = "/verifications"
    tags = ["verifications"]

    @post(
        "/",
        status_code=201,
        responses=spec.CREATE,
        operation_id=spec.OP_CREATE,
        operation_class=spec.CreateOperation,
        summary="Send a code",
        description="Sends a code by SMS. A second request for the same phone and purpose "
        "while one is pending, from the same network (client_ip's /24 or /48, or none), is a "
        "resend: same id, a new code.",
    )
    async def create(
        self,
        data: JSONBody[CreateVerification],
        client: NamedDependency[ClientKey],
        service: NamedDependency[VerificationService],
        idempotency_key: IdempotencyKey = None,
    ) -> VerificationOut:
        return await create_verification(service, client, data, idempotency_key)

    @post(
        "/check",
        status_code=200,
        responses=spec.CHECK_BY_PHONE,
        operation_id=spec.OP_CHECK_BY_PHONE,
        summary="Check a code by phone and purpose",
    )
    async def check_by_phone(
        self,
        data: JSONBody[CheckByPhone],
        client: NamedDependency[ClientKey],
        service: NamedDependency[VerificationService],
    ) -> CheckOut:
        result = await service.check_by_phone(
            client, data.phone, data.purpose, data.code, data.client_ip, device_id=data.device_id
        )
        return CheckOut.of(result)

    @post(
        "/{verification_id:str}/check",
        status_code=200,
        responses=spec.CHECK,
        operation_id=spec.OP_CHECK,
        summary="Check a code",
    )
    async def check(
        self,
        verification_id: VerificationId,
        data: JSONBody[CheckCode],
        client: NamedDependency[ClientKey],
        service: NamedDependency[VerificationService],
    ) -> CheckOut:
        return await check_verification(service, client, verification_id, data)

    @get(
        "/{verification_id:str}",
        responses=spec.READ,
        operation_id=spec.OP_GET,
        summary="Get a pending verification",
    )
    async def fetch(
        self,
        verification_id: VerificationId,
        client: NamedDependency[ClientKey],
        service: NamedDependency[VerificationService],
    ) -> VerificationOut:
        return VerificationOut.of(await service.get(client, verification_id))

    @delete(
        "/{verification_id:str}",
        status_code=204,
        responses=spec.READ,
        operation_id=spec.OP_CANCEL,
        summary="Cancel a verification",
    )
    async def cancel(
        self,
        verification_id: VerificationId,
        client: NamedDependency[ClientKey],
        service: NamedDependency[VerificationService],
    ) -> None:
        await service.cancel(client, verification_id)

    @get(
        "/{verification_id:str}/delivery",
        responses=spec.DELIVERY,
        operation_id=spec.OP_DELIVERY,
        summary="Delivery status of the last SMS",
    )
    async def delivery(
        self,
        verification_id: VerificationId,
        client: NamedDependency[ClientKey],
        service: NamedDependency[VerificationService],
    ) -> DeliveryOut:
        d = await service.delivery(client, verification_id)
        return DeliveryOut(
            id=verification_id,
            state=d.state.value,
            operator=d.operator,
            sent_at=d.sent_at,
            provider_code=d.provider_code,
        )


class Provider(Controller):
    path = "/provider"
    tags = ["provider"]
    dependencies = {"client": Provide(provide_admin)}

    @get(
        "/balance",
        responses=spec.BALANCE,
        operation_id=spec.OP_BALANCE,
        summary="Provider balance (admin key)",
    )
    async def balance(
        self, client: NamedDependency[ClientKey], service: NamedDependency[VerificationService]
    ) -> BalanceOut:
        b = await service.balance()
        return BalanceOut(local_sms=b.local_sms, international_tl=b.international_tl)


def v1_router() -> Router:
    from otpservice.api.history import History  # it uses this module's parameters

    return Router(
        path="/v1",
        route_handlers=[Verifications, Provider, History],
        dependencies={
            "client": Provide(provide_client),
            "service": Provide(provide_service_after_client, sync_to_thread=False),
        },
        before_request=before_v1_request,
        security=[{"BearerAuth": []}],
    )


__all__ = ["iso", "v1_router"]
