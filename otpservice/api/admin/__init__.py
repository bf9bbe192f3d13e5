"""/v1/admin: operator endpoints, admin keys only (OTP_ADMIN_API_KEYS). One module per area."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide

from otpservice.api.admin.guard import AdminGuard
from otpservice.api.admin.policies import AdminPolicies
from otpservice.api.admin.providers import AdminProviders
from otpservice.api.admin.webhooks import AdminWebhooks
from otpservice.api.auth import provide_admin


async def before_admin_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """As /v1 (the key first, then JSON bodies only), except that an action with no body at
    all (``POST .../enable``) needs no Content-Type."""
    from otpservice.api.auth import authenticate
    from otpservice.api.v1 import before_v1_request

    bodiless = request.headers.get("content-length", "0").strip() == "0" and (
        "transfer-encoding" not in request.headers
    )
    if request.method == "POST" and bodiless:
        authenticate(request)
        return None
    return await before_v1_request(request)


def admin_router() -> Router:
    from otpservice.api.v1 import provide_service_after_client

    return Router(
        path="/v1/admin",
        route_handlers=[AdminWebhooks, AdminProviders, AdminGuard, AdminPolicies],
        dependencies={
            "client": Provide(provide_admin),
            "service": Provide(provide_service_after_client, sync_to_thread=False),
        },
        before_request=before_admin_request,
        security=[{"BearerAuth": []}],
    )
