"""/v1/admin: operator endpoints, admin keys only (OTP_ADMIN_API_KEYS). One module per area."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from otpservice.api.admin.guard import AdminGuard
from otpservice.api.admin.policies import AdminPolicies
from otpservice.api.admin.providers import AdminProviders
from otpservice.api.admin.webhooks import AdminWebhooks
from otpservice.api.auth import provide_admin


def admin_router() -> Router:
    from otpservice.api.v1 import before_v1_request, provide_service_after_client

    return Router(
        path="/v1/admin",
        route_handlers=[AdminWebhooks, AdminProviders, AdminGuard, AdminPolicies],
        dependencies={
            "client": Provide(provide_admin),
            "service": Provide(provide_service_after_client, sync_to_thread=False),
        },
        before_request=before_v1_request,
        security=[{"BearerAuth": []}],
    )
