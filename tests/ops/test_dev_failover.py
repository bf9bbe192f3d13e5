"""`otpservice dev --providers 2`: two simulator accounts, and the failover shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port, wait_for_port


def test_dev_with_two_providers_fails_over_when_main_runs_dry(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTP_")}
    env.update({"OTP_REDIS_URL": redis_url, "OTP_HASH_PRESET": "test"})
    out = tmp_path / "dev.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "otpservice", "dev", "--providers", "2", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, 30)
        deadline = time.monotonic() + 10
        while "curl -s -X PATCH" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        printed = out.read_text()
        key = re.search(r"API key:\s+(\S+)", printed)
        patch = re.search(r"(http://\S+/_admin/accounts/\S+)", printed)
        assert key and patch, printed
        base = f"http://127.0.0.1:{port}"
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key.group(1)}"})
        assert api.post("/v1/verifications", json={"phone": "+905321110201"}).status_code == 201
        httpx.patch(patch.group(1), json={"local_balance_sms": 0}).raise_for_status()
        assert api.post("/v1/verifications", json={"phone": "+905321110202"}).status_code == 201
        inbox = httpx.get(f"{base}/simulator/inbox", headers={"Accept": "application/json"})
        senders = [m["sender"] for m in reversed(inbox.json()["messages"])]
        assert senders == ["OTP", "BACKUP"]  # main's OTP endpoint, then the backup account
    finally:
        proc.terminate()
        proc.wait(20)
