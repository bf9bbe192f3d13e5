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
    assert r["bound_before"] > 0 and r["bound_after"] > 0
    assert r["flows"]["units"] > 0 and r["flows"]["errors"] == 0
    assert 0 < f["t1"]["ratio"] < 2
    assert r["refused_sends"]["units"] > 0 and r["refused_sends"]["errors"] == 0
    assert r["unknown_checks"]["units"] > 0 and r["unknown_checks"]["errors"] == 0
    assert r["bare"]["units"] > 0 and f["t2"]["ratio_send"] > 0 and f["t2"]["ratio_check"] > 0
    assert r["healthz_under_flows"]["units"] > 0 and f["t3"]["p99_ms"] > 0
    memory = r["memory"]
    assert memory["errors"] == 0 and memory["pending"] == memory["created"] == 200
    assert 0 < f["t4"]["bytes"] < 100_000
    assert f["t5"]["ratio"] > 0
    assert [c for c, _ in f["t6"]["rates"]] == [1, 4] and all(v > 0 for _, v in f["t6"]["rates"])
    text = (out / "RESULTS.md").read_text()
    assert "Quick (smoke) run" in text and "bench.png" in text
    assert (
        not (ROOT / "bench" / "RESULTS.md").exists()
        or (ROOT / "bench" / "RESULTS.md").stat().st_mtime < (out / "RESULTS.md").stat().st_mtime
    )
