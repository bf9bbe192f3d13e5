"""Metric names and values after a known flow, scraped from GET /metrics."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from otpservice import __version__
from tests.ops.conftest import Api, Sim, service_env
from tests.support.processes import serve
from tests.support.servers import ServiceServer

PHONE = "+905321234567"
MOBILE = PHONE[1:]


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = httpx.get(f"{base_url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@contextmanager
def service(redis_url: str, sim: Sim, **overrides: str) -> Iterator[ServiceServer]:
    with ServiceServer(service_env(redis_url, sim, **overrides)) as server:
        yield server


def test_metrics_after_a_known_flow(redis_url: str, sim: Sim) -> None:
    with service(
        redis_url,
        sim,
        OTP_RESEND_COOLDOWN_SECONDS="0",
        OTP_LIMIT_PHONE_10M="2",
        OTP_BALANCE_POLL_SECONDS="60",
    ) as server:
        api = Api(server.url)
        vid = api.create(PHONE).json()["id"]
        code = sim.last_code(MOBILE)
        assert api.check(vid, "000000" if code != "000000" else "111111").status_code == 200
        assert api.check(vid, code).json()["status"] == "approved"
        assert api.create(PHONE).status_code == 201  # a new verification: the 2nd send
        refused = api.create(PHONE)  # the 3rd within 10 minutes
        assert refused.status_code == 429
        policy = refused.json()["policy"]
        assert api.check("0" * 64, "123456").status_code == 404
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/no/such/path").status_code == 404

        m = scrape(server.url)

    assert value(m, "otp_sends_total", outcome="sent", result_code="") == 2
    assert value(m, "otp_checks_total", outcome="wrong_code") == 1
    assert value(m, "otp_checks_total", outcome="approved") == 1
    assert value(m, "otp_checks_total", outcome="not_found") == 1
    assert value(m, "otp_refusals_total", policy=policy) == 1
    assert value(m, "otp_prefix_blocks_total") == 0
    # Requests by route template and status, never by raw path.
    route = "/v1/verifications"
    check_route = "/v1/verifications/{verification_id}/check"
    assert value(m, "otp_http_requests_total", method="POST", route=route, status="201") == 2
    assert value(m, "otp_http_requests_total", method="POST", route=route, status="429") == 1
    assert value(m, "otp_http_requests_total", method="POST", route=check_route, status="200") == 2
    assert value(m, "otp_http_requests_total", method="POST", route=check_route, status="404") == 1
    assert value(m, "otp_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(m, "otp_http_requests_total", method="GET", route="/healthz", status="200") == 1
    assert value(m, "otp_http_request_duration_seconds_count", method="POST", route=route) == 3
    assert not any(vid in name or vid in str(labels) for name, labels in m)
    # Provider latency: two sends and the start-up balance poll.
    assert value(m, "otp_provider_call_duration_seconds_count", operation="send_otp") == 2
    assert value(m, "otp_provider_call_duration_seconds_count", operation="balance") == 1
    assert value(m, "otp_provider_balance_sms") == 10_000
    assert value(m, "otp_provider_balance_last_success_timestamp_seconds") > time.time() - 60


def test_provider_failures_are_counted_by_result_code(redis_url: str, sim: Sim) -> None:
    with service(redis_url, sim) as server:
        api = Api(server.url)
        sim.account(per_minute_limit=0)  # the provider answers TS-1060 (its rate limit)
        r = api.create(PHONE)
        assert r.status_code == 503
        sim.account(per_minute_limit=100)
        sim.fault("http_502", times=1)
        assert api.create(PHONE).status_code == 503
        m = scrape(server.url)
    assert value(m, "otp_sends_total", outcome="failed", result_code="TS-1060") == 1
    assert (
        sum(
            v
            for (name, labels), v in m.items()
            if name == "otp_sends_total" and ("outcome", "failed") in labels
        )
        == 2
    )


def test_prefix_block_is_counted(redis_url: str, sim: Sim) -> None:
    with service(redis_url, sim, OTP_PREFIX_BURST_NUMBERS="3") as server:
        api = Api(server.url)
        statuses = [api.create(f"+90532123{n:04d}").status_code for n in range(4)]
        # The 3rd different number under one prefix blocks it; the 4th meets the block.
        assert statuses == [201, 201, 429, 429]
        m = scrape(server.url)
    assert value(m, "otp_prefix_blocks_total") == 1
    assert value(m, "otp_refusals_total", policy="prefix_blocked") == 2


def test_a_refusal_is_one_request_line_naming_its_policy(
    redis_url: str, sim: Sim, capfd: pytest.CaptureFixture[str]
) -> None:
    with service(redis_url, sim, OTP_PREFIX_BURST_NUMBERS="3") as server:
        api = Api(server.url)
        statuses = [api.create(f"+90532123{n:04d}").status_code for n in range(4)]
    assert statuses == [201, 201, 429, 429]
    lines = [
        json.loads(line)
        for line in capfd.readouterr().err.splitlines()
        if line.startswith("{") and '"route":"/v1/verifications"' in line
    ]
    requests = [line for line in lines if line["event"] == "request"]
    assert [r["status"] for r in requests] == statuses
    assert [r.get("policy") for r in requests] == [None, None, "prefix_blocked", "prefix_blocked"]
    # The policy is on the request line only: no second info line per refusal.
    assert all(line["event"] == "request" for line in lines if line.get("policy"))


def test_low_balance_is_a_gauge_and_a_warning(
    redis_url: str, sim: Sim, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.account(local_balance_sms=42)
    with service(
        redis_url, sim, OTP_BALANCE_POLL_SECONDS="0.2", OTP_LOW_BALANCE_SMS="100"
    ) as server:
        time.sleep(0.5)
        m = scrape(server.url)
    assert value(m, "otp_provider_balance_sms") == 42
    assert value(m, "otp_provider_call_duration_seconds_count", operation="balance") >= 2
    warnings = [
        json.loads(line)
        for line in capfd.readouterr().err.splitlines()
        if line.startswith("{") and "provider.low_balance" in line
    ]
    assert warnings and warnings[0]["event"] == "provider.low_balance"
    assert warnings[0]["level"] == "warning" and warnings[0]["local_sms"] == 42


def test_metrics_need_no_key_and_are_out_of_the_schema(redis_url: str, sim: Sim) -> None:
    with service(redis_url, sim, OTP_API_DOCS="1") as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 200
        schema = httpx.get(f"{server.url}/schema/openapi.json").json()
    assert "/metrics" not in schema["paths"]


@pytest.mark.parametrize("preset_dir", [False, True], ids=["dir-unset", "dir-set"])
def test_several_workers_report_together(
    redis_url: str, sim: Sim, tmp_path: Path, preset_dir: bool
) -> None:
    """`serve --workers 2`: whichever worker answers the scrape counts every worker's
    requests, with PROMETHEUS_MULTIPROC_DIR set or, as the README runs it, unset."""
    env = service_env(redis_url, sim)
    if preset_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    assert preset_dir or "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with serve(env, tmp_path / "log", server="granian", workers=2) as served:
        base = served.url
        n = 40
        for _ in range(n):
            # A new connection each time, so both workers take requests.
            assert httpx.get(f"{base}/healthz", headers={"Connection": "close"}).status_code == 200
        # Where `serve` puts the samples when the variable is unset (serving.prepare_metrics_dir).
        prom = tmp_path / "prom" if preset_dir else Path(tempfile.gettempdir())
        prom = prom if preset_dir else prom / f"otpservice-{served.proc.pid}"
        pids = {p.name for p in prom.glob("counter_*.db")}
        assert len(pids) == 2, "both workers wrote samples"
        for _ in range(3):  # every scrape, from any worker, sees all of them
            m = scrape(base)
            assert value(m, "otp_build_info", version=__version__) == 1
            assert (
                value(m, "otp_http_requests_total", method="GET", route="/healthz", status="200")
                == n
            )
        served.proc.terminate()
        assert served.proc.wait(30) == 0


def test_metrics_that_collect_nothing_answer_500_and_log_it(
    redis_url: str,
    sim: Sim,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The failure the README's path once had: the metrics library imported (here, by this
    test process) before its multiprocess directory was set, so nothing reaches the files."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with service(redis_url, sim) as server:
        r = httpx.get(f"{server.url}/metrics")
    assert r.status_code == 500
    assert r.json()["code"] == "metrics_unavailable"
    logged = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert any(
        line["event"] == "metrics.no_samples" and line["level"] == "error" for line in logged
    )
