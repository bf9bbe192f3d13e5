"""GET /metrics in the Prometheus text format. No key: keep it on an internal network."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from otpservice.observability.metrics import CONTENT_TYPE, Metrics


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE, status_code=200)
