"""Admin: read and change the abuse policies at runtime (policy/runtime.py)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta

from otpservice.api import openapi as spec
from otpservice.config import ClientKey, Settings
from otpservice.policy.runtime import RuntimePolicy

_MEANINGS = {
    403: "This call needs an admin key (OTP_ADMIN_API_KEYS).",
    409: "Other changes kept landing meanwhile; nothing was changed.",
    422: "A value the environment would refuse too, or a variable that is not a policy; "
    "nothing was changed.",
    503: "Redis is unavailable; nothing was changed.",
}
READ = spec.problems(spec.ADMIN, _MEANINGS)
CHANGE = spec.problems(
    {
        **spec.ADMIN,
        **spec.BODY,
        409: ("policy_conflict",),
        422: ("invalid_policy", "invalid_request"),
    },
    _MEANINGS,
)


class PolicyChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Variables to set (values as the environment takes them) and to reset."""

    set: Annotated[
        dict[str, str],
        Meta(
            description="OTP_* variable -> value, validated as at start-up.",
            examples=[{"OTP_LIMIT_COUNTRY_HOUR": "500", "OTP_GUARD_MODE": "monitor"}],
        ),
    ] = msgspec.field(default_factory=dict)
    reset: Annotated[
        list[str],
        Meta(description="Variables whose runtime value is dropped (back to the environment)."),
    ] = msgspec.field(default_factory=list)


class VariableOut(msgspec.Struct, frozen=True):
    name: str
    value: Annotated[str | None, Meta(description="As set; null: the built-in default.")]
    source: Annotated[str, Meta(description="runtime, environment or default.")]


class PolicyOut(msgspec.Struct, frozen=True):
    """The effective abuse policy and where each variable's value comes from."""

    version: Annotated[int, Meta(description="Moves with every runtime change.")]
    variables: list[VariableOut]
    effective: Annotated[
        dict[str, Any], Meta(description="The parsed settings every instance applies.")
    ]


def _effective(s: Settings) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(
        {
            "limits": s.limits,
            "allowed_countries": sorted(s.allowed_countries),
            "prefix_allow": s.prefix_allow,
            "prefix_deny": s.prefix_deny,
            "max_checks": s.max_checks,
            "max_sends": s.max_sends,
            "resend_cooldown_seconds": s.resend_cooldown_seconds,
            "guard": s.guard,
            "budget_shares": s.shares,
        }
    )
    return out


def provide_policy(request: Request[Any, Any, Any]) -> RuntimePolicy:
    policy: RuntimePolicy = request.app.state.policy
    return policy


async def _view(policy: RuntimePolicy) -> PolicyOut:
    await policy.refresh()
    return PolicyOut(
        version=policy.version,
        variables=[VariableOut(v.name, v.value, v.source) for v in policy.variables()],
        effective=_effective(policy.effective),
    )


class AdminPolicies(Controller):
    path = "/policies"
    tags = ["admin"]

    @get("/", responses=READ, operation_id="getPolicies", summary="The abuse policies")
    async def read(
        self, client: NamedDependency[ClientKey], request: Request[Any, Any, Any]
    ) -> PolicyOut:
        return await _view(provide_policy(request))

    @patch(
        "/",
        responses=CHANGE,
        operation_id="changePolicies",
        summary="Change abuse policies at runtime",
        description="Validated exactly as the environment is; stored in Redis, applied by "
        "every instance within 2 s, kept across restarts until reset; an event "
        "`policy.changed` names the admin key.",
    )
    async def change(
        self,
        data: JSONBody[PolicyChange],
        client: NamedDependency[ClientKey],
        request: Request[Any, Any, Any],
    ) -> PolicyOut:
        policy = provide_policy(request)
        await policy.change(client.name, data.set, data.reset)
        return await _view(policy)

    @delete(
        "/",
        status_code=200,
        responses=READ,
        operation_id="resetPolicies",
        summary="Drop every runtime change (back to the environment)",
    )
    async def reset(
        self, client: NamedDependency[ClientKey], request: Request[Any, Any, Any]
    ) -> PolicyOut:
        policy = provide_policy(request)
        await policy.change(client.name, {}, reset_all=True)
        return await _view(policy)
