"""`otpservice check` and `otpservice balance` against real Redis and the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from tests.ops.conftest import PROVIDER_KEY, SECRET, Sim, service_env
from tests.support.servers import RedisProcess, free_port


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTP_")}
    return subprocess.run(
        [sys.executable, "-m", "otpservice", command],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_passes_on_a_good_setup(tmp_path: Path, sim: Sim) -> None:
    durable = RedisProcess(tmp_path / "aof", args=("--appendonly", "yes")).start()
    try:
        result = run("check", service_env(durable.url, sim))
    finally:
        durable.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "ok: configuration valid, Redis reachable, provider answers"
    ]


def test_check_warns_about_redis_settings_that_risk_data(redis_url: str, sim: Sim) -> None:
    client = redis.Redis.from_url(redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        result = run("check", service_env(redis_url, sim))  # the test Redis has no AOF
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()
    assert result.returncode == 0  # warnings only
    lines = result.stdout.splitlines()
    assert lines[0].startswith("warning: redis: AOF is off")
    assert lines[1].startswith("warning: redis: maxmemory-policy is allkeys-lru")
    assert lines[2].startswith("ok:")


def test_check_fails_when_wait_replicas_cannot_be_met(redis_url: str, sim: Sim) -> None:
    result = run("check", service_env(redis_url, sim, OTP_REDIS_WAIT_REPLICAS="1"))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "redis: OTP_REDIS_WAIT_REPLICAS=1 but a primary has 0 connected replica(s): "
        "every check would answer 503"
    )


def test_check_prints_one_line_per_problem(sim: Sim) -> None:
    env = service_env(f"redis://127.0.0.1:{free_port()}/0", sim)
    env["OTP_PROVIDER_API_KEY"] = "wrong-provider-key-123"
    result = run("check", env)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("redis: ")
    assert lines[1].startswith("provider: ")
    assert "wrong-provider-key-123" not in result.stdout + result.stderr


def test_check_reports_bad_configuration_without_values(redis_url: str, sim: Sim) -> None:
    env = service_env(redis_url, sim)
    env["OTP_SECRET"] = "too-short"
    result = run("check", env)
    assert result.returncode == 1
    assert result.stdout.strip() == "config: OTP_SECRET must be at least 32 characters"
    env.pop("OTP_SECRET")
    result = run("check", env)
    assert result.stdout.strip().startswith("config: OTP_SECRET is required")


def test_check_warns_on_low_balance(redis_url: str, sim: Sim) -> None:
    sim.account(local_balance_sms=42)
    result = run("check", service_env(redis_url, sim, OTP_LOW_BALANCE_SMS="100"))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "provider: low balance (42 SMS left)"


def test_balance_prints_the_provider_balance(sim: Sim, redis_url: str) -> None:
    sim.account(local_balance_sms=1234, international_balance_tl=56.5)
    env = service_env(redis_url, sim)
    env.pop("OTP_API_KEYS")  # the balance needs only the provider settings
    result = run("balance", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["local: 1234 SMS", "international: 56.50 TL"]


def test_balance_with_a_wrong_key_fails_in_one_line(sim: Sim, redis_url: str) -> None:
    env = service_env(redis_url, sim)
    env["OTP_PROVIDER_API_KEY"] = "wrong-provider-key-123"
    result = run("balance", env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("provider: ")
    for secret in ("wrong-provider-key-123", PROVIDER_KEY, SECRET):
        assert secret not in result.stdout + result.stderr
