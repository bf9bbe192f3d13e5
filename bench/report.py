"""Turn a run's results into RESULTS.md, results.json and bench.png (matplotlib, Agg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {
    "flows_ratio": 0.85,
    "refused_ratio": 0.5,
    "healthz_p99_ms": 25.0,
    "bytes_per_verification": 512.0,
    "slow_scaling": 0.8,  # throughput at concurrency c >= 0.8 * c * throughput at 1
}


def figures(r: dict[str, Any]) -> dict[str, Any]:
    """The targets' measured values and pass/fail, from the raw results."""
    bound = r["bound"]
    flows = r["flows"]["rate"]
    refused_send = r["refused_sends"]["rate"]
    unknown_check = r["unknown_checks"]["rate"]
    bare = r["bare"]["rate"]
    h_flows = r["healthz_under_flows"]["latency_ms"].get("healthz", {}).get("p99", 0.0)
    h_slow = r["healthz_under_slow_provider"]["latency_ms"].get("healthz", {}).get("p99", 0.0)
    slow = r["slow_provider"]
    one = slow[0]["rate"] or 1e-9
    scaling = [s["rate"] / (s["concurrency"] * one) for s in slow]
    per_verification = r["memory"]["bytes_per_verification"]
    slow_owasp = r["slow_provider_owasp"]
    one_owasp = slow_owasp[0]["rate"] or 1e-9
    worker_ratio = flows / (r["flows_one_worker"]["rate"] or 1e-9)
    return {
        "t1": {
            "bound": round(bound, 2),
            "flows": flows,
            "ratio": round(flows / bound, 3),
            "pass": flows / bound >= TARGETS["flows_ratio"],
        },
        "t2": {
            "bare": bare,
            "refused_send": refused_send,
            "unknown_check": unknown_check,
            "ratio_send": round(refused_send / bare, 3),
            "ratio_check": round(unknown_check / bare, 3),
            "pass": min(refused_send, unknown_check) / bare >= TARGETS["refused_ratio"],
        },
        "t3": {"p99_ms": h_flows, "pass": h_flows <= TARGETS["healthz_p99_ms"]},
        "t4": {
            "bytes": per_verification,
            "pass": per_verification <= TARGETS["bytes_per_verification"],
        },
        "t5": {"ratio": round(worker_ratio, 3)},
        "t6": {
            "rates": [(s["concurrency"], s["rate"]) for s in slow],
            "scaling": [round(x, 3) for x in scaling],
            "healthz_p99_ms": h_slow,
            "pass": all(x >= TARGETS["slow_scaling"] for x in scaling)
            and h_slow <= TARGETS["healthz_p99_ms"],
            "owasp_scaling": [
                round(s["rate"] / (s["concurrency"] * one_owasp), 3) for s in slow_owasp
            ],
            "owasp_healthz_p99_ms": r["healthz_slow_owasp"]["latency_ms"]
            .get("healthz", {})
            .get("p99", 0.0),
        },
        "t4_worst": {"bytes": r["memory_distinct_prefixes"]["bytes_per_verification"]},
    }


def _verdict(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


def _lat(result: dict[str, Any], name: str) -> str:
    lat = result["latency_ms"].get(name)
    if not lat:
        return "–"
    return f"{lat['p50']:.1f} / {lat['p99']:.1f} ms"


def chart(r: dict[str, Any], f: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0][0]
    names = ["flows /\nargon2 bound", "refused sends /\nbare", "unknown checks /\nbare"]
    values = [f["t1"]["ratio"], f["t2"]["ratio_send"], f["t2"]["ratio_check"]]
    bars = ax.bar(names, values, color=["#4c72b0", "#55a868", "#55a868"])
    ax.hlines([0.85], -0.4, 0.4, colors="red", linestyles="--")
    ax.hlines([0.5, 0.5], [0.6, 1.6], [1.4, 2.4], colors="red", linestyles="--")
    ax.bar_label(bars, fmt="%.2f")
    ax.set_title("Targets 1 and 2: throughput ratios (red: target)")
    ax.set_ylim(0, max([*values, 1.0]) * 1.15)

    ax = axes[0][1]
    rows = [
        ("healthz, argon2\nsaturated", r["healthz_under_flows"]),
        ("healthz, provider\n2 s, c=max", r["healthz_under_slow_provider"]),
    ]
    labels = [name for name, _ in rows]
    p50 = [res["latency_ms"].get("healthz", {}).get("p50", 0) for _, res in rows]
    p99 = [res["latency_ms"].get("healthz", {}).get("p99", 0) for _, res in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], p50, 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], p99, 0.4, label="p99")
    ax.axhline(25, color="red", linestyle="--", label="target p99 25 ms")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("ms")
    ax.set_title("Targets 3 and 6: /healthz latency under load")
    ax.legend()

    ax = axes[1][0]
    conc = [c for c, _ in f["t6"]["rates"]]
    rates = [v for _, v in f["t6"]["rates"]]
    ax.plot(conc, rates, "o-", label="measured")
    ax.plot(conc, [c * rates[0] for c in conc], "--", color="grey", label="proportional")
    ax.set_xlabel("concurrent creates")
    ax.set_ylabel("creates/s")
    ax.set_title("Target 6: creates/s with the provider answering slowly")
    ax.legend()

    ax = axes[1][1]
    lat_rows = [
        ("create\nmoderate", r["flows_moderate"], "create"),
        ("check\nmoderate", r["flows_moderate"], "check"),
        ("create\nsaturated", r["flows"], "create"),
        ("check\nsaturated", r["flows"], "check"),
    ]
    lp50 = [res["latency_ms"].get(n, {}).get("p50", 0) for _, res, n in lat_rows]
    lp99 = [res["latency_ms"].get(n, {}).get("p99", 0) for _, res, n in lat_rows]
    x = range(len(lat_rows))
    ax.bar([i - 0.2 for i in x], lp50, 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], lp99, 0.4, label="p99")
    ax.set_xticks(list(x), [name for name, _, _ in lat_rows])
    ax.set_ylabel("ms")
    ax.set_title("Create and check latency (test numbers, no provider)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(r: dict[str, Any], out: Path) -> None:
    f = figures(r)
    r["figures"] = f
    (out / "results.json").write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")
    chart(r, f, out / "bench.png")
    s = r["sizes"]
    m = r["memory"]
    w = r["memory_distinct_prefixes"]

    def breakdown(mem: dict[str, Any]) -> str:
        return "\n".join(
            f"| `{kind}` | {row['keys']} | {row['avg_bytes']} | {row['encoding']} |"
            for kind, row in mem["breakdown"].items()
        )

    def t6_rows(runs: list[dict[str, Any]], scaling: list[float], preset: str) -> str:
        return "\n".join(
            f"| `{preset}` | {res['concurrency']} | {res['units']} | {res['rate']} | "
            f"{scaling[i]} | {_lat(res, 'create')} |"
            for i, res in enumerate(runs)
        )

    round_rows = "\n".join(
        f"| {i + 1} | {one['bound']:.2f} | {one['flows']['rate']} | {one['ratio']:.3f} |"
        for i, one in enumerate(r["rounds"])
    )
    mb, ma = r["machine_before"], r["machine_after"]
    text = f"""# Benchmark results

{"**Quick (smoke) run: tiny sizes, numbers are not meaningful.**" if r["quick"] else ""}

Run at {mb["at"]} on {r["cores"]} cores, {s["workers"]} service workers, hash preset
`{s["preset"]}` (targets 1–3, 5) and `test` (target 4, target 6's verdict); {r["seconds"]} s in all.
Load average before {mb["loadavg"]}, after {ma["loadavg"]} (other engineers' test suites
share this machine, so absolute numbers are noisy; the targets are ratios measured in
the same run, except 3 and 4). Busiest processes at the end: {"; ".join(ma["top"][:4])}.

![charts](bench.png)

| # | target | measured | bar | verdict |
|---|---|---|---|---|
| 1 | send+check flows/s vs the argon2 bound | {f["t1"]["flows"]} / {f["t1"]["bound"]} = **{f["t1"]["ratio"]}** | ≥ 0.85 | {_verdict(f["t1"]["pass"])} |
| 2 | refused requests/s vs a bare endpoint with one Redis call | sends {f["t2"]["ratio_send"]}, checks {f["t2"]["ratio_check"]} | ≥ 0.5 | {_verdict(f["t2"]["pass"])} |
| 3 | `/healthz` p99 while argon2 saturates the CPU | **{f["t3"]["p99_ms"]} ms** | ≤ 25 ms | {_verdict(f["t3"]["pass"])} |
| 4 | Redis bytes per pending verification (its phone's limit keys included; one prefix) | **{f["t4"]["bytes"]} B** (worst case, a prefix, an address and a /24 per number: {f["t4_worst"]["bytes"]} B) | ≤ 512 B | {_verdict(f["t4"]["pass"])} |
| 5 | flows/s, {s["workers"]} workers vs 1 | **{f["t5"]["ratio"]}** | reported | – |
| 6 | provider at {s["slow_latency_ms"]} ms: creates/s ∝ concurrency {list(s["slow_concurrency"])}; `/healthz` p99 | `test` preset: scaling {f["t6"]["scaling"]}, healthz p99 {f["t6"]["healthz_p99_ms"]} ms (`{s["preset"]}`: {f["t6"]["owasp_scaling"]}, {f["t6"]["owasp_healthz_p99_ms"]} ms) | ≥ 0.8 × proportional; ≤ 25 ms | {_verdict(f["t6"]["pass"])} |

## 1. Flows against the argon2 bound

A flow is `POST /v1/verifications` for a configured test number (`OTP_TEST_NUMBERS`:
a fixed code, hashed and stored like any other, no provider call) followed by
`POST /v1/verifications/{{id}}/check` with the right code (approved). Test numbers keep
the simulator's CPU out of a 2-core measurement of *our* overhead; the provider path is
measured in target 6. {s["flow_concurrency"]} keep-alive connections, {s["flow_seconds"]} s.

The bound: {r["cores"]} processes (one per core) each running the service's own
`CodeHasher` (HMAC + argon2id, same preset, at the niceness of the service's argon2
threads) hash+verify in a loop for {s["bound_seconds"]} s. Other engineers' jobs come and
go on this machine, so the run alternates bound and flows ({s["rounds"]} rounds); each
round's flows are compared with the mean of the bounds measured just before and just
after them, and the round with the median ratio is the figure. Target 3 is measured in a
separate saturated run ({r["flows_probed"]["rate"]} flows/s while its probe also sends
`/healthz` 100 times a second), so that the probe's requests do not count against the
flows.

| round | bound flows/s | service flows/s | ratio |
|---|---|---|---|
{round_rows}

| load | flows/s | create p50 / p99 | check p50 / p99 | errors |
|---|---|---|---|---|
| saturated ({s["flow_concurrency"]} connections) | {r["flows"]["rate"]} | {_lat(r["flows"], "create")} | {_lat(r["flows"], "check")} | {r["flows"]["errors"]} |
| moderate ({s["moderate_concurrency"]} connections) | {r["flows_moderate"]["rate"]} | {_lat(r["flows_moderate"], "create")} | {_lat(r["flows_moderate"], "check")} | {r["flows_moderate"]["errors"]} |
| saturated, 1 worker | {r["flows_one_worker"]["rate"]} | {_lat(r["flows_one_worker"], "create")} | {_lat(r["flows_one_worker"], "check")} | {r["flows_one_worker"]["errors"]} |

## 2. Refusals against a bare endpoint

Refused sends: `POST /v1/verifications` with `client_ip` over its `ip_hour` budget
(429 from the first script, one round trip). Unknown checks: `POST
/v1/verifications/<random id>/check` (404, one round trip). The yardstick
(`bench/baseline.py`): a Litestar app with one `POST` handler that decodes the same JSON
body and does one `INCR`, served by {s["server"]} with `otpservice serve`'s options and the
same {s["workers"]} workers. {s["refused_concurrency"]} connections, {s["refused_seconds"]} s each.

| endpoint | requests/s | p50 / p99 | errors |
|---|---|---|---|
| bare Litestar + one Redis call | {r["bare"]["rate"]} | {_lat(r["bare"], "bare")} | {r["bare"]["errors"]} |
| refused send (429) | {r["refused_sends"]["rate"]} | {_lat(r["refused_sends"], "refused_send")} | {r["refused_sends"]["errors"]} |
| check of an unknown id (404) | {r["unknown_checks"]["rate"]} | {_lat(r["unknown_checks"], "unknown_check")} | {r["unknown_checks"]["errors"]} |

## 3 and 6. `/healthz` under load

A separate process sends `GET /healthz` one at a time, 10 ms apart, on its own connection.

| while | samples | p50 / p99 | max |
|---|---|---|---|
| target-1 saturation (argon2 on every core) | {r["healthz_under_flows"]["units"]} | {_lat(r["healthz_under_flows"], "healthz")} | {r["healthz_under_flows"]["latency_ms"].get("healthz", {}).get("max", 0)} ms |
| provider at {s["slow_latency_ms"]} ms, {max(s["slow_concurrency"])} concurrent creates | {r["healthz_under_slow_provider"]["units"]} | {_lat(r["healthz_under_slow_provider"], "healthz")} | {r["healthz_under_slow_provider"]["latency_ms"].get("healthz", {}).get("max", 0)} ms |

| provider at {s["slow_latency_ms"]} ms, {max(s["slow_concurrency"])} concurrent creates, `{s["preset"]}` preset | {r["healthz_slow_owasp"]["units"]} | {_lat(r["healthz_slow_owasp"], "healthz")} | {r["healthz_slow_owasp"]["latency_ms"].get("healthz", {}).get("max", 0)} ms |

Target 6: the simulator's fault switchboard adds {s["slow_latency_ms"]} ms to every
provider call; creates of fresh numbers (real provider path, code from the provider's
OTP endpoint), {s["slow_seconds"]} s per concurrency level. The verdict uses the `test`
hashing preset, so that it measures the pools (httpx, Redis, the event loop, the hash
threads) and not the CPU: with `{s["preset"]}`, {max(s["slow_concurrency"])} creates every
{s["slow_latency_ms"] / 1000:g} s need {max(s["slow_concurrency"]) * 1000 / s["slow_latency_ms"]:g}
argon2 hashes a second, against a bound of ~{2 * f["t1"]["bound"]:.0f} hashes/s on this
machine (2 per flow), shared with the simulator and the load driver.

| preset | concurrency | creates | creates/s | vs proportional | create p50 / p99 |
|---|---|---|---|---|---|
{t6_rows(r["slow_provider"], f["t6"]["scaling"], "test")}
{t6_rows(r["slow_provider_owasp"], f["t6"]["owasp_scaling"], s["preset"])}

## 4. Redis memory per pending verification

`OTP_HASH_PRESET=test` (the stored size does not depend on the parameters), every limit
raised, provider code source; `INFO memory used_memory` after minus before, divided by
the pending verifications counted in Redis afterwards. Before the first reading the service
has created 300 verifications and Redis was flushed, so that its connections' buffers and
the script cache (fixed costs, ~0.4 MB) are not counted as verifications.

**The figure** — {m["created"]} numbers under one prefix (`+90532` and 7 digits), so that
the shared budget keys (client, country, prefix, global) are few and everything that
grows is the verification and its phone's own limit keys; the SMS-pumping guard is off
(`OTP_PREFIX_BURST_NUMBERS=0`: at any useful setting it would block that prefix; its set
holds at most that many members per prefix, so it does not grow with verifications):
{m["used_memory_before"]} → {m["used_memory_after"]} bytes for {m["pending"]} pending =
**{m["bytes_per_verification"]} bytes each**, {m["keys"]} keys in all (errors:
{m["errors"]}; {m["fill_rate"]} creates/s). Redis: {m["redis_config"]}.

| key class | keys | avg `MEMORY USAGE` (B) | encoding |
|---|---|---|---|
{breakdown(m)}

**The worst case** — {w["created"]} distinct random numbers over 53x/54x/55x, so nearly
every number has its own prefix and its own prefix budget keys and guard set, each sent
with its own `client_ip` in its own /24, so every verification also has its own per-IP
and per-network budget keys:
**{w["bytes_per_verification"]} bytes each** ({w["keys"]} keys; errors: {w["errors"]}).
The target is met by the verification and its phone's own keys; the shared budgets cost
per distinct subject they count, here
{w["bytes_per_verification"] - m["bytes_per_verification"]:.0f} bytes more per verification
when none of them is shared with another.

| key class | keys | avg `MEMORY USAGE` (B) | encoding |
|---|---|---|---|
{breakdown(w)}

## How to run

`.venv/bin/python -m bench` from the repository (see README, "Benchmarks").
Raw figures: `results.json`.
"""
    extra = out / "NOTES.md"
    if extra.exists():
        text += "\n" + extra.read_text()
    (out / "RESULTS.md").write_text(text)
