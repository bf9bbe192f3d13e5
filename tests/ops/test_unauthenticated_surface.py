"""Attacks that need no key, against `otpservice serve` (granian): made-up HTTP methods
growing the metrics, API documentation served to anyone, a Server header naming the server,
a flood of made-up keys writing a log line each."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.conftest import Sim, service_env
from tests.support.processes import serve

MADE_UP_METHODS = 2_000
MADE_UP_KEYS = 600
KNOWN = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "other"}


def test_made_up_methods_do_not_grow_the_metrics(redis_url: str, sim: Sim, tmp_path: Path) -> None:
    with (
        serve(service_env(redis_url, sim), tmp_path / "log") as served,
        httpx.Client(base_url=served.url, timeout=10) as http,
    ):
        before = len(http.get("/metrics").content)
        for _ in range(MADE_UP_METHODS):
            method = "X" + secrets.token_hex(6).upper()
            http.request(method, f"/v1/{secrets.token_hex(4)}")
        scraped = http.get("/metrics")
    assert scraped.status_code == 200
    methods = {
        s.labels["method"]
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
        if "method" in s.labels
    }
    assert methods <= KNOWN, sorted(methods - KNOWN)[:5]
    assert "other" in methods  # they were counted, under one label
    routes = {
        s.labels["route"]
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
        if "route" in s.labels
    }
    assert all(r.startswith("/") or r == "unmatched" for r in routes)
    assert not any(
        r.startswith("/v1/") and "{" not in r and r != "/v1/verifications" for r in routes
    )
    # A few new series (one method, one route), never one per request.
    assert len(scraped.content) < before + 20_000


def test_production_serves_no_docs_and_names_no_server(
    redis_url: str, sim: Sim, tmp_path: Path
) -> None:
    with (
        serve(service_env(redis_url, sim), tmp_path / "log") as served,
        httpx.Client(base_url=served.url, timeout=10) as http,
    ):
        for path in (
            "/schema",
            "/schema/openapi.json",
            "/schema/openapi.yaml",
            "/schema/swagger",
            "/schema/redoc",
            "/schema/elements",
            "/schema/rapidoc",
            "/schema/scalar",
        ):
            r = http.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert r.headers.get("server", "") == "", path
        healthz = http.get("/healthz")
    assert healthz.status_code == 200
    assert healthz.headers.get("server", "") == ""


def test_docs_when_turned_on_load_nothing_from_another_origin(
    redis_url: str, sim: Sim, tmp_path: Path
) -> None:
    env = service_env(redis_url, sim, OTP_API_DOCS="1")
    with (
        serve(env, tmp_path / "log") as served,
        httpx.Client(base_url=served.url, timeout=10) as http,
    ):
        assert http.get("/schema/openapi.json").json()["info"]["title"] == "otpservice"
        assert http.get("/schema/openapi.yaml").status_code == 200
        page = http.get("/schema/swagger")
        assert page.status_code == 200
        sources = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
        assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
        for source in sources:
            assert http.get(source).status_code == 200, source
        # The other renderers, which would load from CDNs, are not served.
        for path in ("/schema/redoc", "/schema/scalar", "/schema/elements", "/schema/rapidoc"):
            assert http.get(path).status_code == 404, path


def test_a_flood_of_made_up_keys_writes_few_request_lines_and_counts_every_one(
    redis_url: str, sim: Sim, tmp_path: Path
) -> None:
    """Without sampling, each 401 of the flood wrote its own line: the line cost about as much
    CPU as the refusal (bench/NOTES.md), so a keyless outsider doubled what the flood cost."""
    with serve(service_env(redis_url, sim), tmp_path / "log") as served:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            started = time.monotonic()
            for _ in range(MADE_UP_KEYS):
                # A connection each: the 401 is answered before the body is read, and a
                # keep-alive connection whose body the server never read may be closed under
                # the next request (the server says so when it knows in time; once in a full
                # local run it did not), which would lose a request this test counts.
                r = http.post(
                    "/v1/verifications",
                    json={"phone": "+905321234567"},
                    headers={
                        "Authorization": f"Bearer {secrets.token_hex(16)}",
                        "Connection": "close",
                    },
                )
                assert r.status_code == 401
            seconds = time.monotonic() - started
            scraped = http.get("/metrics").text
        lines = [
            line
            for line in served.lines()
            if line.get("event") == "request" and line.get("status") == 401
        ]
    counted = sum(
        s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
        if s.name == "otp_http_requests_total" and s.labels.get("status") == "401"
    )
    assert counted == MADE_UP_KEYS  # the metric counts every one
    # At most 10 lines a second for this kind (one worker), each saying what it left out.
    assert len(lines) <= 10 * (int(seconds) + 2) < MADE_UP_KEYS
    written = len(lines) + sum(line.get("suppressed", 0) for line in lines)
    assert written <= MADE_UP_KEYS
    assert lines and all(line["route"] == "/v1/verifications" for line in lines)
