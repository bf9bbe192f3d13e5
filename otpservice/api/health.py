"""Liveness and readiness. No key needed."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from otpservice.api.openapi import NOT_READY
from otpservice.api.problems import problem_response


@get("/healthz", include_in_schema=True, tags=["health"], summary="Process alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    tags=["health"],
    summary="Redis answers and scripts are loaded",
    responses=NOT_READY,
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    store = request.app.state.store
    if await store.ping():
        return Response({"status": "ready"})
    return problem_response(
        503, "not_ready", "Not ready", "Redis does not answer or the scripts are not loaded."
    )
