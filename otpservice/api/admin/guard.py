"""Admin: the fraud guard's active blocks with their evidence, and lifting one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from msgspec import Meta

from otpservice.api import openapi as spec
from otpservice.config import ClientKey
from otpservice.errors import BlockNotFound, InvalidRequest
from otpservice.guard.store import GuardStore

BLOCKS = spec.problems(
    spec.ADMIN,
    {403: "This call needs an admin key (OTP_ADMIN_API_KEYS).", 503: "Redis is unavailable."},
)
UNBLOCK = spec.problems(
    {**spec.ADMIN, **spec.BAD_ID, 404: ("block_not_found",), 422: ("invalid_request",)},
    {
        400: "The kind is not prefix or country, or forget_strikes is not a boolean.",
        403: "This call needs an admin key (OTP_ADMIN_API_KEYS).",
        404: "No active block for this prefix or country.",
        422: "The subject is not a digit prefix (prefix) or an ISO code (country).",
        503: "Redis is unavailable; nothing was changed.",
    },
)

Scope = Annotated[Literal["prefix", "country"], PathParameter(description="What is blocked.")]
Subject = Annotated[
    str,
    PathParameter(
        min_length=1, max_length=16, description="The prefix's digits, or the ISO country code."
    ),
]


class BlockOut(msgspec.Struct, frozen=True):
    """An active block and the evidence it was decided on."""

    scope: Annotated[str, Meta(description="prefix or country.")]
    subject: Annotated[str, Meta(description="The prefix's digits or the ISO country code.")]
    expires_in_seconds: Annotated[float, Meta(description="Time left.")]
    evidence: Annotated[
        dict[str, Any],
        Meta(
            description="sends (settled numbers in the window), approvals, settling, "
            "window_seconds, block_seconds, strikes, mode, at (ms)."
        ),
    ]


class BlocksOut(msgspec.Struct, frozen=True):
    """Every active fraud guard block."""

    blocks: list[BlockOut]


def provide_guard(request: Request[Any, Any, Any]) -> GuardStore:
    guard: GuardStore = request.app.state.guard
    return guard


def _subject(scope: str, subject: str) -> str:
    if scope == "prefix" and subject.lstrip("+").isdigit():
        return subject.lstrip("+")
    if scope == "country" and len(subject) == 2 and subject.isalpha():
        return subject.upper()
    raise InvalidRequest("Unblock a prefix (its digits) or a country (its ISO code).")


class AdminGuard(Controller):
    path = "/guard"
    tags = ["admin"]

    @get("/blocks", responses=BLOCKS, operation_id="listGuardBlocks", summary="Guard blocks")
    async def blocks(
        self, client: NamedDependency[ClientKey], request: Request[Any, Any, Any]
    ) -> BlocksOut:
        found = await provide_guard(request).blocks()
        return BlocksOut(
            blocks=[BlockOut(b.scope, b.subject, b.expires_in_seconds, b.evidence) for b in found]
        )

    @delete(
        "/blocks/{kind:str}/{subject:str}",
        status_code=204,
        responses=UNBLOCK,
        operation_id="deleteGuardBlock",
        summary="Lift a guard block",
        description="The prefix or country may send again at once; an event "
        "`guard.unblocked` names the admin key. With `forget_strikes` the next block starts "
        "over at the first duration instead of escalating.",
    )
    async def unblock(
        self,
        kind: Scope,
        subject: Subject,
        client: NamedDependency[ClientKey],
        request: Request[Any, Any, Any],
        forget_strikes: Annotated[
            bool, QueryParameter(description="Also forget the subject's earlier blocks.")
        ] = False,
    ) -> None:
        lifted = await provide_guard(request).unblock(
            kind, _subject(kind, subject), client.name, forget=forget_strikes
        )
        if not lifted:
            raise BlockNotFound("No active block for this prefix or country.")
