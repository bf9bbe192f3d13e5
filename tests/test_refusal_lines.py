"""Request lines under a flood: refusals and not-founds are sampled per kind with a count of
what was left out; every other line, and every count in the metrics, stays."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from otpservice.observability.logging import configure_logging
from otpservice.observability.metrics import Metrics
from otpservice.observability.requests import (
    POLICY_IN_SCOPE,
    REFUSAL_LINES_PER_SECOND,
    RefusalLines,
    RequestObservability,
)


def test_each_kind_writes_its_first_lines_of_a_second_then_counts_the_rest() -> None:
    lines = RefusalLines(per_second=2)
    a, b = (
        ("/v1/verifications", 429, "ip_hour", "web"),
        ("/v1/verifications", 429, "phone_10m", "web"),
    )
    assert [lines.admit(a, 100.1), lines.admit(a, 100.2)] == [0, 0]
    assert [lines.admit(a, 100.3), lines.admit(a, 100.9)] == [None, None]
    assert lines.admit(b, 100.95) == 0  # another policy is never hidden behind a flood of one
    assert lines.admit(a, 101.0) == 2  # the next second's first line says what was left out
    assert lines.admit(a, 101.1) == 0


def _app(status: int, policy: str | None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if policy is not None:
            scope.setdefault("state", {})[POLICY_IN_SCOPE] = policy
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _requests(app: Any, n: int, metrics: Metrics, path: str = "/v1/verifications") -> None:
    wrapped = RequestObservability(app, metrics)

    async def drive() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            return None

        for _ in range(n):
            scope = {"type": "http", "method": "POST", "path": path, "headers": []}
            scope["path_template"] = path
            await wrapped(scope, receive, send)

    asyncio.run(drive())


def _request_lines(err: str) -> list[dict[str, Any]]:
    return [j for j in map(json.loads, err.splitlines()) if j.get("event") == "request"]


def test_a_refusal_flood_is_sampled_and_counted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    metrics = Metrics()
    n = REFUSAL_LINES_PER_SECOND * 5
    _requests(_app(429, "ip_hour"), n, metrics)
    lines = _request_lines(capfd.readouterr().err)
    # Within one second (or two, if the loop straddles one): at most the budget per second.
    assert REFUSAL_LINES_PER_SECOND <= len(lines) <= 2 * REFUSAL_LINES_PER_SECOND
    assert all(line["policy"] == "ip_hour" and line["status"] == 429 for line in lines)
    written = len(lines) + sum(line.get("suppressed", 0) for line in lines)
    assert written <= n  # what is left out is counted, never invented
    counted = metrics.http_requests.labels("POST", "/v1/verifications", "429")._value.get()
    assert counted == n  # the metric counts every refusal


@pytest.mark.parametrize("status", [401, 403])
def test_a_flood_without_a_key_or_from_a_country_not_served_is_sampled(
    status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    """An outsider with no key (401), or sending to numbers this service does not serve
    (403), must not double each refusal's cost with a line of its own."""
    configure_logging("json", "INFO")
    metrics = Metrics()
    n = REFUSAL_LINES_PER_SECOND * 5
    _requests(_app(status, None), n, metrics)
    lines = _request_lines(capfd.readouterr().err)
    assert REFUSAL_LINES_PER_SECOND <= len(lines) <= 2 * REFUSAL_LINES_PER_SECOND
    assert all(line["status"] == status for line in lines)
    counted = metrics.http_requests.labels("POST", "/v1/verifications", str(status))._value.get()
    assert counted == n


def test_successes_are_never_sampled(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    n = REFUSAL_LINES_PER_SECOND * 3
    _requests(_app(201, None), n, Metrics())
    assert len(_request_lines(capfd.readouterr().err)) == n


def test_a_server_error_without_a_policy_is_never_sampled(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    n = REFUSAL_LINES_PER_SECOND * 3
    _requests(_app(503, None), n, Metrics())  # storage down: every line matters
    assert len(_request_lines(capfd.readouterr().err)) == n
