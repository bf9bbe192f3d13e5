"""A real `otpservice serve` process: graceful SIGTERM, and logs with no secret in them."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.conftest import ADMIN_KEY, PROVIDER_KEY, SECRET, WEB_KEY, Api, Sim, service_env
from tests.support.processes import serve

PHONE = "+905321234567"
MOBILE = PHONE[1:]


@pytest.mark.parametrize(("server", "workers"), [("granian", 2), ("uvicorn", 1)])
def test_sigterm_lets_the_in_flight_request_finish_then_exits_0(
    redis_url: str, sim: Sim, tmp_path: Path, server: str, workers: int
) -> None:
    with serve(service_env(redis_url, sim), tmp_path / "log", server=server, workers=workers) as s:
        api = Api(s.url)
        assert api.create("+905321230000").status_code == 201  # warm: pools are up
        sim.fault("latency", latency_ms=1500)
        answer: list[httpx.Response] = []
        request = threading.Thread(target=lambda: answer.append(api.create(PHONE)))
        request.start()
        time.sleep(0.5)  # the send is now waiting on the provider
        s.proc.send_signal(signal.SIGTERM)
        request.join(20)
        assert s.proc.wait(30) == 0
        assert answer and answer[0].status_code == 201
        assert sim.last_code(MOBILE)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{s.url}/healthz", timeout=2)
        events = [line["event"] for line in s.lines()]
        assert "request" in events


def _values(line: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in line.items() if k != "timestamp"})


@pytest.mark.parametrize("code_source", ["provider", "local"])
def test_logs_of_an_end_to_end_flow_carry_no_secret(
    redis_url: str, sim: Sim, tmp_path: Path, code_source: str
) -> None:
    env = service_env(
        redis_url,
        sim,
        OTP_CODE_SOURCE=code_source,
        OTP_LOG_LEVEL="DEBUG",
        OTP_BALANCE_POLL_SECONDS="30",
    )
    codes: list[str] = []
    with serve(env, tmp_path / "log") as s:
        api = Api(s.url)
        r = api.http.post(
            "/v1/verifications", json={"phone": PHONE}, headers={"X-Request-ID": "trace-abc-1"}
        )
        assert r.status_code == 201
        assert r.headers["x-request-id"] == "trace-abc-1"
        vid = r.json()["id"]
        codes.append(sim.last_code(MOBILE))
        wrong = "".join(str((int(d) + 1) % 10) for d in codes[0])
        assert api.check(vid, wrong).status_code == 200
        assert api.check(vid, codes[0]).json()["status"] == "approved"
        assert api.check_phone(PHONE, codes[0]).status_code == 404
        sim.fault("reset", times=1)  # a failed send: the error path logs too
        assert api.create(PHONE).status_code == 503
        assert api.as_client(ADMIN_KEY).http.get("/v1/provider/balance").status_code == 200
        assert Api(s.url, "not-a-real-key-000000").create(PHONE).status_code == 401
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 0
        lines = s.lines()

    text = "\n".join(_values(line) for line in lines)
    for secret in (
        PROVIDER_KEY,
        SECRET,
        WEB_KEY,
        ADMIN_KEY,
        "not-a-real-key-000000",
        PHONE,
        MOBILE,
    ):
        assert secret not in text
    for code in codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", text), "a code reached the log"
    # One event per request, each with a request id; the caller's id joins domain lines.
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) >= 7
    assert all(re.fullmatch(r"[0-9a-f]{32}|trace-abc-1", line["request_id"]) for line in requests)
    # The request line names the client (its configured name, never its key).
    first = next(line for line in requests if line["request_id"] == "trace-abc-1")
    assert first["client"] == "web"
    assert first["route"] == "/v1/verifications"
    assert first["status"] == 201
    traced = {line["event"] for line in lines if line.get("request_id") == "trace-abc-1"}
    assert {"request", "verification.sent"} <= traced
    assert any(line.get("phone") == "+90532123****" for line in lines)
