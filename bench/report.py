"""Turn a run's results into RESULTS.md, results.json and bench.png (matplotlib, Agg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BARS = {
    "refused_ratio": 0.8,  # refused sends and unknown checks, req/s vs the bare yardstick
    "flows_ratio": 0.92,  # send+check flows/s vs the argon2 bound
    "fair_success": 0.95,  # the other client's success rate kept under the flood
    "fair_p99": 3.0,  # its p99 at most this many times its unloaded p99
    "own_keys_bytes": 512.0,  # the verification's own keys
}
CONFIG_NAMES = {
    "base": "event log, guard, routes off",
    "tcp": "base, Redis over TCP on 127.0.0.1 instead of its Unix socket",
    "events": "+ event log",
    "guard": "+ fraud guard",
    "routes": "+ provider routes",
    "all": "all on (as shipped)",
}
OWN_KEYS = ("phone:v", "phone:s", "phone:l", "phone:u")


def _in_order(configs: dict[str, Any]) -> list[tuple[str, Any]]:
    """The configurations as CONFIG_NAMES lists them (results.json sorts its keys)."""
    return sorted(configs.items(), key=lambda item: list(CONFIG_NAMES).index(item[0]))


def _verdict(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


def _spread(s: dict[str, float], digits: int = 3) -> str:
    if s["n"] == 1:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f}, n={s['n']})"


def own_keys_bytes(memory: dict[str, Any]) -> float:
    """The verification's own keys (record, send log, lock, undelivered marker), as the
    average MEMORY USAGE of each class weighted by how many there are per verification."""
    pending = max(1, int(memory["pending"]))
    total = 0.0
    for kind in OWN_KEYS:
        row = memory["breakdown"].get(kind)
        if row:
            total += float(row["avg_bytes"]) * int(row["keys"]) / pending
    return round(total, 1)


def figures(r: dict[str, Any]) -> dict[str, Any]:
    base = r["configs"]["base"]
    ref = base["refusals"]
    send_ratio = ref["refused_sends"]["ratio"]["median"]
    check_ratio = ref["unknown_checks"]["ratio"]["median"]
    flows = base["flows"]["ratio"]["median"]
    fair = r["fairness"]["admission_on"]
    own = own_keys_bytes(r["memory"])
    return {
        "t1": {
            "ratio_send": send_ratio,
            "ratio_check": check_ratio,
            "pass": min(send_ratio, check_ratio) >= BARS["refused_ratio"],
        },
        "t2": {"ratio": flows, "pass": flows >= BARS["flows_ratio"]},
        "t3": {
            "success_kept": fair["success_kept"],
            "p99_ratio": fair["p99_ratio"],
            "pass": fair["success_kept"] >= BARS["fair_success"]
            and 0 < fair["p99_ratio"] <= BARS["fair_p99"],
        },
        "t4": {
            name: {
                "ratio_send": c["refusals"]["refused_sends"]["ratio"]["median"],
                "ratio_check": c["refusals"]["unknown_checks"]["ratio"]["median"],
                "cpu_send": c["refusals"]["refused_sends"]["cpu_us"]["median"],
                "cpu_check": c["refusals"]["unknown_checks"]["cpu_us"]["median"],
                "flows_ratio": c["flows"]["ratio"]["median"],
                "cpu_create": c["creates"]["cpu_us_per_request"],
            }
            for name, c in _in_order(r["configs"])
        },
        "t5": {
            "bytes": r["memory"]["bytes_per_verification"],
            "own_bytes": own,
            "worst_bytes": r["memory_distinct_prefixes"]["bytes_per_verification"],
            "pass": 0 < own <= BARS["own_keys_bytes"],
        },
    }


def chart(f: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(f["t4"])
    x = range(len(names))
    ax = axes[0]
    for offset, key, label in (
        (-0.27, "ratio_send", "refused sends / bare"),
        (0.0, "ratio_check", "unknown checks / bare"),
        (0.27, "flows_ratio", "flows / argon2 bound"),
    ):
        bars = ax.bar([i + offset for i in x], [f["t4"][n][key] for n in names], 0.27, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(0.8, color="red", linestyle="--", linewidth=1)
    ax.axhline(0.92, color="purple", linestyle=":", linewidth=1)
    ax.set_xticks(list(x), names)
    ax.set_title("Targets 1, 2, 4: ratios per configuration (lines: bars 0.8, 0.92)")
    ax.legend(fontsize=8)
    ax = axes[1]
    for offset, key, label in (
        (-0.2, "cpu_send", "refused send"),
        (0.2, "cpu_check", "unknown check"),
    ):
        bars = ax.bar([i + offset for i in x], [f["t4"][n][key] for n in names], 0.4, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("CPU µs per request (server's processes)")
    ax.set_title("CPU per refusal")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fair_row(name: str, m: dict[str, Any]) -> str:
    u, lo, fl = m["unloaded"], m["loaded"], m["flood"]
    return (
        f"| {name} | {u['success_rate']:.3f} / {u['p99_ms']} ms | "
        f"{lo['success_rate']:.3f} / {lo['p99_ms']} ms | **{m['success_kept']}** | "
        f"**{m['p99_ratio']}** | {fl['requests_per_s']} ({fl['refused_429']} × 429, "
        f"{fl['shed_503']} × 503) |"
    )


def _breakdown(mem: dict[str, Any]) -> str:
    pending = max(1, int(mem["pending"]))
    return "\n".join(
        f"| `{kind}` | {row['keys']} | {row['avg_bytes']} | {row['encoding']} | "
        f"{row['avg_bytes'] * row['keys'] / pending:.1f} |"
        for kind, row in mem["breakdown"].items()
    )


def write_report(r: dict[str, Any], out: Path) -> None:
    f = figures(r)
    r["figures"] = f
    (out / "results.json").write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")
    chart(f, out / "bench.png")
    s = r["sizes"]
    mb, ma = r["machine_before"], r["machine_after"]
    base = r["configs"]["base"]
    ref = base["refusals"]
    fair = r["fairness"]
    m, w = r["memory"], r["memory_distinct_prefixes"]

    config_rows = "\n".join(
        f"| {name} ({CONFIG_NAMES[name]}) | {_spread(c['refusals']['refused_sends']['ratio'])} | "
        f"{_spread(c['refusals']['refused_sends']['cpu_us'], 0)} | "
        f"{_spread(c['refusals']['unknown_checks']['ratio'])} | "
        f"{_spread(c['refusals']['unknown_checks']['cpu_us'], 0)} | "
        f"{_spread(c['flows']['ratio'])} | {c['creates']['cpu_us_per_request']:.0f} "
        f"({c['creates']['units']} creates, {c['creates']['errors']} errors) |"
        for name, c in _in_order(r["configs"])
    )
    bare_cpu = _spread(ref["bare"]["cpu_us"], 0)
    flow_rows = "\n".join(
        f"| {i + 1} | {one['bound']:.2f} | {one['flows']['rate']} | {one['ratio']:.3f} | "
        f"{2 * one['flows']['cpu_us_per_request']:.0f} |"
        for i, one in enumerate(base["flows"]["rounds"])
    )
    refusal_rows = "\n".join(
        f"| {i + 1} | {one['bare']['rate']} ({one['bare']['cpu_us_per_request']:.0f} µs) | "
        f"{one['refused_sends']['rate']} ({one['refused_sends']['cpu_us_per_request']:.0f} µs) | "
        f"{one['unknown_checks']['rate']} ({one['unknown_checks']['cpu_us_per_request']:.0f} µs) |"
        for i, one in enumerate(ref["rounds"])
    )
    fair_rows = [_fair_row("base, admission on", fair["admission_on"])]
    if "admission_off" in fair:
        fair_rows.append(_fair_row("base, admission off", fair["admission_off"]))
    fair_rows.append(_fair_row("all on, admission on", r["fairness_all"]["admission_on"]))
    fair_table = "\n".join(fair_rows)

    text = f"""# Benchmark results

{"**Quick (smoke) run: tiny sizes, numbers are not meaningful.**" if r["quick"] else ""}

Run at {mb["at"]} on {r["cores"]} cores, {s["workers"]} service workers, hash preset
`{s["preset"]}`; {r["seconds"]} s in all. Load average before {mb["loadavg"]}, after
{ma["loadavg"]}: other engineers' jobs share this machine, so requests/s move from round to
round; the ratios compare runs made one right after the other, and CPU µs per request
(user + system time of the server's whole process group, from /proc, over every answer it
gave) is the figure least moved by a busy machine. Spreads are median (min–max, n rounds).
Busiest processes at the end: {"; ".join(ma["top"][:4])}.

![charts](bench.png)

| # | target | measured | bar | verdict |
|---|---|---|---|---|
| 1 | refused sends and unknown-id checks, req/s vs the bare yardstick | sends **{_spread(ref["refused_sends"]["ratio"])}**, checks **{_spread(ref["unknown_checks"]["ratio"])}**; CPU per request: send {_spread(ref["refused_sends"]["cpu_us"], 0)} µs, check {_spread(ref["unknown_checks"]["cpu_us"], 0)} µs, bare {bare_cpu} µs | ≥ 0.8 | {_verdict(f["t1"]["pass"])} |
| 2 | send+check flows/s vs the argon2 bound | **{_spread(base["flows"]["ratio"])}** | ≥ 0.92 | {_verdict(f["t2"]["pass"])} |
| 3 | another client's flows under a refused-send flood: success kept, p99 vs unloaded | **{f["t3"]["success_kept"]}**, p99 × **{f["t3"]["p99_ratio"]}** (admission on) | ≥ 0.95, ≤ 3 × | {_verdict(f["t3"]["pass"])} |
| 4 | the same with event log, guard, routes on | see the table below (all on: sends {f["t4"].get("all", {}).get("ratio_send", "–")}, checks {f["t4"].get("all", {}).get("ratio_check", "–")}, flows {f["t4"].get("all", {}).get("flows_ratio", "–")}) | as 1–3 | reported |
| 5 | Redis per pending verification (its phone's keys, its events, everything on) | **{f["t5"]["bytes"]} B** in all (worst case, a prefix, an address and a /24 per number: {f["t5"]["worst_bytes"]} B); its own keys **{f["t5"]["own_bytes"]} B** | own keys ≤ 512 B | {_verdict(f["t5"]["pass"])} |

## 1. Refusals against the bare yardstick

Refused sends: `POST /v1/verifications` with `client_ip` over its `ip_hour` budget (429 from
the first script, one round trip). Unknown checks: `POST /v1/verifications/<random id>/check`
(404, one round trip). The yardstick (`bench/baseline.py`): a Litestar app with one `POST`
handler that decodes the same JSON body and does one `INCR`, served by {s["server"]} with
`otpservice serve`'s options and the same {s["workers"]} workers. {s["refused_concurrency"]}
connections, {s["refused_seconds"]} s each; a round is bare, sends, checks back to back.
Configuration `base` (event log, guard, routes off: target 4 adds them). Redis runs on the
same host, and the service and the yardstick reach it over its Unix socket; configuration
`tcp` in target 4 is the same over 127.0.0.1 (against a yardstick over TCP too).

| round | bare req/s (CPU/req) | refused sends req/s (CPU/req) | unknown checks req/s (CPU/req) |
|---|---|---|---|
{refusal_rows}

## 2. Flows against the argon2 bound

A flow is `POST /v1/verifications` for a configured test number (a fixed code, hashed and
stored like any other, no provider call) and `POST /v1/verifications/{{id}}/check` with the
right code. The bound: {r["cores"]} processes each running the service's own `CodeHasher`
(HMAC + argon2id, same preset, at the niceness of the service's hash threads) for
{s["bound_seconds"]} s, each warmed up by one hash first and counted over its flows' own
time; each round's flows ({s["flow_concurrency"]} connections, {s["flow_seconds"]} s) against
the mean of the bounds just before and after them. Flows/s are those completed while every
connection was busy, from a ramp-up of up to 1 s to the deadline (the whole run's rate, with
the last flows finishing on fewer and fewer connections, is in results.json as
`rate_whole_run`). Rounds are short and many because this machine's speed drifts by ±10 %
within tens of seconds (in this run the bound alone moved {min(base["flows"]["bounds"]):.1f}–{max(base["flows"]["bounds"]):.1f} flows/s between rounds).

| round | bound flows/s | service flows/s | ratio | CPU µs per flow |
|---|---|---|---|---|
{flow_rows}

## 3. Fairness: one client's flood, another client's flows

Client `flood` sends refused sends on {s["flood_concurrency"]} connections (full
saturation); client `bench` runs flows on {s["fair_concurrency"]} connections, first alone
(unloaded), then under the flood, {s["fair_seconds"]} s each, in a fresh service.
Admission control (`OTP_ADMISSION`, throttling/admission.py) on and off.

| service | unloaded success / p99 | under flood success / p99 | success kept | p99 × | flood req/s (answers) |
|---|---|---|---|---|---|
{fair_table}

## 4. Event log, fraud guard, provider routes: what each costs

Each configuration in its own service over a flushed Redis: `OTP_EVENTS=0/1`,
`OTP_GUARD_MODE=off/enforce`, and one provider (`OTP_PROVIDER_*`) against two providers
with routes (`OTP_PROVIDERS`, `OTP_ROUTES`: default main → backup, `+90532` → backup).
Refusals in {s["rounds"]} rounds each, flows in {min(2, s["flow_rounds"])} (base:
{s["flow_rounds"]}); flows
against the bound; creates are real sends of fresh numbers through the simulator (its CPU
is not counted: its own process), {s["preset"]} hashing included.

| configuration | sends / bare | CPU µs / send | checks / bare | CPU µs / check | flows / bound | CPU µs / create |
|---|---|---|---|---|---|---|
{config_rows}

A refused send and a check of an unknown id touch no provider, so routes cannot cost them
anything but noise; the guard's reading is in the send's first script, the event log's
refusal counts in the refusing script.

## 5. Redis memory per pending verification

Everything on (event log included), `OTP_HASH_PRESET=test` (the stored size does not depend
on it), every limit raised; `INFO memory used_memory` after minus before, divided by the
pending verifications counted afterwards (a warm-up and FLUSHALL first, so that the
connections' buffers and the script cache are not counted).

**One prefix** — {m["created"]} numbers under `+90532` (the shared budgets few; the
pumping guards off, as every number here stays unconverted):
{m["used_memory_before"]} → {m["used_memory_after"]} bytes for {m["pending"]} pending =
**{m["bytes_per_verification"]} B each**, {m["keys"]} keys (errors: {m["errors"]};
{m["fill_rate"]} creates/s). Of that, the verification's own keys (record `v`, send log `s`,
send lock `l`, undelivered marker `u`): **{f["t5"]["own_bytes"]} B**. Redis:
{m["redis_config"]}.

| key class | keys | avg `MEMORY USAGE` (B) | encoding | B per verification |
|---|---|---|---|---|
{_breakdown(m)}

**The worst case** — {w["created"]} distinct random numbers (nearly every one its own
prefix), each from its own address and /24, the guards on: **{w["bytes_per_verification"]} B
each** ({w["keys"]} keys; errors: {w["errors"]}).

| key class | keys | avg `MEMORY USAGE` (B) | encoding | B per verification |
|---|---|---|---|---|
{_breakdown(w)}

## How to run

`.venv/bin/python -m bench` from the repository (README, "Performance"); `--quick` for the
smoke sizes. Profiles of one worker: `.venv/bin/python -m bench.profile refused_sends
--out bench/profiles/NAME` (see `bench/profiles/`). Raw figures: `results.json`.
"""
    extra = out / "NOTES.md"
    if extra.exists():
        text += "\n" + extra.read_text()
    (out / "RESULTS.md").write_text(text)
