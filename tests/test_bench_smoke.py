"""A tiny run of the benchmark harness (``python -m bench --quick``): it starts real Redis,
the simulator and ``otpservice serve``, drives every target with minimal sizes, and writes
its report to a temporary directory (never bench/RESULTS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_run_writes_sane_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("RESULTS.md", "results.json", "bench.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "bench.png").read_bytes().startswith(b"\x89PNG")
    r = json.loads((out / "results.json").read_text())
    f = r["figures"]
    assert set(r["configs"]) == {"base", "all"}
    for config in r["configs"].values():
        refusals = config["refusals"]
        for kind in ("refused_sends", "unknown_checks", "bare"):
            assert refusals[kind]["errors"] == 0, kind
            assert refusals[kind]["cpu_us"]["median"] > 0, kind
        for kind in ("refused_sends", "unknown_checks"):
            assert 0 < refusals[kind]["ratio"]["median"] < 5, kind
        assert config["flows"]["errors"] == 0 and 0 < config["flows"]["ratio"]["median"] < 2
        assert config["creates"]["units"] > 0 and config["creates"]["cpu_us_per_request"] > 0
    fair = r["fairness"]
    assert set(fair) == {"admission_on", "admission_off"}
    assert fair["admission_on"]["unloaded"]["units"] > 0
    assert f["t3"]["success_kept"] > 0
    memory = r["memory"]
    assert memory["errors"] == 0 and memory["pending"] == memory["created"] == 200
    # The verification's own keys are measured key by key: exact at any size. The total is
    # a used_memory difference, which over 200 verifications is within the noise of the
    # background consumers (the full run's 10,000 make it a figure): only its sanity here.
    assert 0 < f["t5"]["own_bytes"] <= 512
    assert abs(f["t5"]["bytes"]) < 100_000
    assert set(f["t4"]) == {"base", "all"}
    text = (out / "RESULTS.md").read_text()
    assert "Quick (smoke) run" in text and "bench.png" in text
    assert (
        not (ROOT / "bench" / "RESULTS.md").exists()
        or (ROOT / "bench" / "RESULTS.md").stat().st_mtime < (out / "RESULTS.md").stat().st_mtime
    )
