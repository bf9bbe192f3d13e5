"""`otpservice serve` refuses configuration that must not run in production, with one line
that names the setting and never its value; the development-only findings are let through by
OTP_ALLOW_INSECURE=1 (warned at every start) or `otpservice dev`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from otpservice.config import load_settings
from tests.ops.conftest import Sim, service_env
from tests.support.processes import serve
from tests.support.servers import free_port

STRONG_SECRET = "Qm7vX2pL9sKd4RtY8wNc3ZbF6hJe1UaG5oTi0rEy"
PRODUCTION = {
    "OTP_SECRET": STRONG_SECRET,
    "OTP_API_KEYS": "web=web-client-key-0123456789",
    "OTP_ADMIN_API_KEYS": "ops=admin-client-key-0123456789",
    "OTP_PROVIDER_API_KEY": "provider-key-0123456789",
    "OTP_PROVIDER_BASE_URL": "https://sms.example.test/api/v3",
}
# (setting changed, value, the setting the refusal must name, development-only?)
REFUSED = [
    ("OTP_HASH_PRESET", "test", "OTP_HASH_PRESET", True),
    ("OTP_ARGON2_MEMORY_KIB", "8", "OTP_ARGON2_MEMORY_KIB", True),
    ("OTP_SECRET", "s" * 32, "OTP_SECRET", True),
    ("OTP_SECRET", "ab" * 20, "OTP_SECRET", True),
    ("OTP_PROVIDER_BASE_URL", "http://sms.example.test/api/v3", "OTP_PROVIDER_BASE_URL", True),
    ("OTP_PROVIDER_BASE_URL", "not a url", "OTP_PROVIDER_BASE_URL", False),
    ("OTP_PROVIDER_BASE_URL", "https://host:port/x", "OTP_PROVIDER_BASE_URL", False),
    ("OTP_ALLOWED_COUNTRIES", "TR,XX", "OTP_ALLOWED_COUNTRIES", False),
    ("OTP_DEFAULT_REGION", "ZZ", "OTP_DEFAULT_REGION", False),
    ("OTP_LOG_LEVEL", "chatty", "OTP_LOG_LEVEL", False),
    ("OTP_ADMIN_API_KEYS", "ops=web-client-key-0123456789", "OTP_ADMIN_API_KEYS", False),
]


def _env(**changes: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTP_")}
    return {**base, **PRODUCTION, **changes}


def test_serve_refuses_each_with_one_line_naming_the_setting() -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "otpservice", "serve", "--port", str(free_port())],
            env=_env(**{name: value}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, value, _, _ in REFUSED
    ]
    try:
        results = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:  # it started: the refusal failed
                proc.kill()
    for proc, (out, err), (name, value, named, _) in zip(procs, results, REFUSED, strict=True):
        assert proc.returncode == 2, (name, value, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, lines)
        assert named in lines[0], (name, lines[0])
        assert value not in lines[0] or value in ("test", "8"), (name, lines[0])
        assert out == ""


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, v, _, dev_only in REFUSED if dev_only])
def test_development_only_settings_pass_in_dev_and_with_allow_insecure(
    name: str, value: str
) -> None:
    env = {**PRODUCTION, name: value}
    assert load_settings(env, development=True).insecure_allowed == ()
    allowed = load_settings({**env, "OTP_ALLOW_INSECURE": "1"}).insecure_allowed
    assert len(allowed) == 1 and name.split("_")[1] in allowed[0]


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, v, _, dev_only in REFUSED if not dev_only]
)
def test_the_others_are_refused_even_in_dev(name: str, value: str) -> None:
    with pytest.raises(Exception, match=name):
        load_settings({**PRODUCTION, name: value, "OTP_ALLOW_INSECURE": "1"}, development=True)


def test_allow_insecure_warns_at_every_start(redis_url: str, sim: Sim, tmp_path: Path) -> None:
    env = service_env(redis_url, sim)  # the test preset and the simulator over plain http
    assert env["OTP_ALLOW_INSECURE"] == "1"
    for start in range(2):
        with serve(env, tmp_path / f"log{start}") as served:
            assert httpx.get(f"{served.url}/healthz").status_code == 200  # the app is up
        warned = [line for line in served.lines() if line.get("event") == "config.insecure"]
        assert {w["level"] for w in warned} == {"warning"}
        assert any("OTP_HASH_PRESET" in w["setting"] for w in warned)
        assert any("OTP_PROVIDER_BASE_URL" in w["setting"] for w in warned)
