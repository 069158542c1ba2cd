"""Run every benchmark and write a markdown section with Ember vs ``mlflow server`` ratios.

Usage: python benchmarks/run_all.py [--quick] [--no-default-workers] [--profile off|missed|all]

Runs bench_tracking.py, bench_jobs.py, bench_pipelines.py, bench_sweeps.py, bench_serving.py and
bench_ray.py as subprocesses (each cleans up its own servers and clusters), then writes
bench-results/BENCHMARKS.section.md from bench-results/{tracking,jobs,pipelines,sweeps,serving,
ray}.json.
``--report-only`` rebuilds the markdown from existing JSON without measuring.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

HERE = Path(__file__).resolve().parent


def run(script: str, args: list[str], timeout: int) -> int:
    cmd = [sys.executable, str(HERE / script), *args]
    print(f"$ {' '.join(cmd)}", file=sys.stderr)
    t0 = time.monotonic()
    # The child prints its JSON on stdout; we read the file it writes instead.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{script} exceeded {timeout}s; stopping it", file=sys.stderr)
        c.stop_process_group(proc, grace=30)  # SIGTERM lets it stop its servers first
        rc = 124
    except BaseException:
        c.stop_process_group(proc, grace=30)
        raise
    print(f"{script}: rc={rc} in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    return rc


# ---------------------------------------------------------------------------------------------
# markdown


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if unit == "s":
            return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"
        return f"{v:,.1f}" if v >= 10 else f"{v:.2f}"
    return str(v)


def dig(d: Any, *path: str) -> Any:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def tracking_section(t: dict[str, Any]) -> list[str]:
    out: list[str] = []
    mw = t.get("mlflow_workers")
    out.append("### Tracking (MLflow REST protocol), Ember vs `mlflow server`")
    out.append("")
    out.append(f"- Ember: `{t.get('ember_server_command', 'n/a')}` (tracking URI "
               f"`<url>/workspaces/default`).")
    out.append(f"- mlflow server (the ratios use this one): `{t.get('mlflow_server_command')}`. "
               f"`--workers {mw}` was mlflow's fastest setting in the reference measurements: "
               "there its default (4 uvicorn workers) added ~44 ms to every keep-alive request "
               "(uvicorn#3149, lost TCP_NODELAY). This run's numbers for the default are in "
               "the second table.")
    out.append(f"- Both servers fresh (temp folder, SQLite), run at the same time and measured "
               f"test by test, alternating which goes first; {t.get('rounds')} round(s), each "
               "test keeps its best round. One synchronous client process on the same host. "
               "Parameters: " + ", ".join(f"{k}={v}" for k, v in (t.get("params") or {}).items())
               + ".")
    for key in ("ember", "mlflow"):
        if "error" in (t.get(key) or {}):
            out.append(f"- **{key} failed:** {t[key]['error'][:500]}")
    out.append("")
    rows = t.get("comparison") or []
    if rows:
        out.append("| Test | Ember | mlflow server | Ember ÷ mlflow (speed-up) | Target | Met |"
                   " Ceiling via client¹ |")
        out.append("|---|---:|---:|---:|---:|:---:|---:|")
        for r in rows:
            unit = r["unit"]
            met = {True: "yes", False: "**no**", None: "–"}[r["met"]]
            tgt = f"≥{r['target']:g}×" if r.get("target") else "–"
            ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "n/a"
            ceil = r.get("client_bound_ceiling")
            out.append(f"| {r['test']} | {fmt(r['ember'], unit)} | "
                       f"{fmt(r['mlflow'], unit)} | {ratio} | {tgt} | {met} | "
                       f"{f'{ceil:.1f}×' if ceil else '–'} |")
        out.append("")
        out.append("calls/s unless marked s (seconds, median; ratio = mlflow time ÷ Ember "
                   "time). History \"100k\" rows fetch the number of points in `params`.")
        out.append("")
        out.append("¹ The best ratio any server could reach through `MlflowClient` on this "
                   "machine: mlflow server's time per call ÷ the CPU time the client process "
                   "itself spends per call (building protobufs, JSON, `requests`, parsing the "
                   "reply), i.e. if the server answered instantly.")
        out.append("")

    # latency detail
    lines = []
    for key, label in (("ember", "Ember"), ("mlflow", "mlflow server")):
        lm = dig(t, key, "log_metric")
        if isinstance(lm, dict) and "client" in lm:
            lines.append(f"| {label} | {fmt(dig(lm, 'client', 'calls_per_s'))} | "
                         f"{fmt(dig(lm, 'client', 'p50_ms'))} | {fmt(dig(lm, 'client', 'p95_ms'))}"
                         f" | {fmt(dig(lm, 'raw', 'calls_per_s'))} | {fmt(dig(lm, 'raw', 'p50_ms'))}"
                         f" | {fmt(dig(lm, 'raw', 'p95_ms'))} |")
    if lines:
        out.append("Single `log_metric` latency:")
        out.append("")
        out.append("| Server | client calls/s | client p50 ms | client p95 ms | raw POST calls/s |"
                   " raw p50 ms | raw p95 ms |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        out += lines
        out.append("")

    lines = []
    for key, label in (("ember", "Ember"), ("mlflow", "mlflow server")):
        for shape in ("one_key_1000_steps", "1000_keys_one_step"):
            cl = dig(t, key, "client_log_batch", shape)
            raw = dig(t, key, "raw_log_batch", shape)
            if isinstance(cl, dict) and isinstance(raw, dict) and "p50_ms" in cl \
                    and "p50_ms" in raw:
                lines.append(f"| {label} | {shape} | {fmt(raw['p50_ms'])} | {fmt(raw['p95_ms'])}"
                             f" | {fmt(cl['p50_ms'])} | {fmt(cl['p95_ms'])} | "
                             f"{fmt(cl.get('client_cpu_ms_per_call'))} |")
    if lines:
        out.append("log-batch of 1000 metrics, per call (ms). The last column is the CPU the "
                   "MLflow client process itself spends per call (protobufs, JSON, `requests`), "
                   "about the same against either server:")
        out.append("")
        out.append("| Server | Shape | raw POST p50 | raw p95 | MlflowClient p50 | client p95 |"
                   " client CPU/call |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        out += lines
        out.append("")

    hist = []
    for key, label in (("ember", "Ember"), ("mlflow", "mlflow server")):
        h = dig(t, key, "history")
        if isinstance(h, dict) and "client_s" in h:
            raw = h.get("raw_single_get_s", {})
            note = raw.get("note", "")
            hist.append(f"| {label} | {h.get('points')} | {fmt(h.get('load_s'), 's')} | "
                        f"{fmt(dig(h, 'client_s', 'median'), 's')} | "
                        f"{fmt(dig(h, 'client_s', 'client_cpu_s'), 's')} | "
                        f"{fmt(raw.get('median'), 's')} | {raw.get('returned')} | "
                        f"{(raw.get('reply_bytes') or 0) / 1e6:.1f} MB | {note or '–'} |")
    if hist:
        out.append("Metric history:")
        out.append("")
        out.append("| Server | points | load (100 log-batch POSTs) | get_metric_history (client) |"
                   " of which client CPU | raw GET max_results=points | points returned |"
                   " reply size | cap |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        out += hist
        out.append("")

    if t.get("comparison_vs_default_workers"):
        out.append(f"Against mlflow server with its **default** workers "
                   f"(`{t.get('mlflow_default_workers_command')}`), measured alone after the "
                   "side-by-side run, one round:")
        out.append("")
        out.append("| Test | Ember | mlflow server (default workers) | Ember ÷ mlflow |")
        out.append("|---|---:|---:|---:|")
        for r in t["comparison_vs_default_workers"]:
            ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "n/a"
            out.append(f"| {r['test']} | {fmt(r['ember'], r['unit'])} | "
                       f"{fmt(r['mlflow'], r['unit'])} | {ratio} |")
        out.append("")
    elif "error" in (t.get("mlflow_default_workers") or {}):
        out.append(f"mlflow server with default workers failed: "
                   f"{t['mlflow_default_workers']['error'][:300]}")
        out.append("")

    # interference
    others = []
    for key in ("ember", "mlflow"):
        for rnd in dig(t, key, "rounds") or []:
            for res in rnd.values():
                v = dig(res, "_cpu", "others_cores")
                if isinstance(v, (int, float)):
                    others.append(v)
    if others:
        out.append(f"Noise: each test first waited (≤{dig(t, 'quiet_wait', 'max_wait_s')} s) "
                   "for the rest of the machine to go under "
                   f"{dig(t, 'quiet_wait', 'others_cores')} cores; other processes then used "
                   f"{min(others):.2f}–"
                   f"{max(others):.2f} cores (median {c.median(others):.2f}) during the tests "
                   f"(of {t.get('machine', {}).get('nproc')}); numbers are best-of-rounds to "
                   "damp this.")
        out.append("")

    prof = t.get("ember_profile")
    if isinstance(prof, dict) and any(isinstance(v, dict) and v.get("top_self")
                                      for v in prof.values()):
        out.append("Ember server profile (py-spy, ~9 s of each load; flamegraphs "
                   "`bench-results/profile-ember-*.svg`), top functions by own time:")
        out.append("")
        for name, v in prof.items():
            if not isinstance(v, dict) or not v.get("top_self") or "samples" not in v:
                continue
            out.append(f"- `{name}` ({v.get('requests')} requests, {v.get('samples')} samples, "
                       f"{v.get('idle_wait_pct')}% waiting in select/locks):")
            for line in v["top_self"][:6]:
                out.append(f"  - {line.strip()}")
        cs = prof.get("client-side-get-metric-history")
        if isinstance(cs, dict) and cs.get("top_self"):
            out.append(f"- client side of `get_metric_history` against Ember (cProfile, one call,"
                       f" {cs.get('wall_s')} s under the profiler), top functions by own time:")
            for line in cs["top_self"][:8]:
                out.append(f"  - {line.strip()}")
        out.append("")
    return out


def jobs_section(j: dict[str, Any]) -> list[str]:
    out = ["### Jobs (Ember only)", ""]
    if "error" in j:
        out += [f"**Failed:** {j['error'][:500]}", ""]
        return out
    p = j.get("params", {})
    seq, burst = j.get("sequential", {}), j.get("burst", {})
    out.append(f"Trivial jobs on the local compute with the default (cached) environment; "
               f"`{j.get('ember_server_command')}`, max 4 concurrent jobs (the default).")
    out.append("")
    out.append("| Test | Result |")
    out.append("|---|---|")
    if "error" in seq:
        out.append(f"| submit → Running, {p.get('sequential_jobs')} jobs one at a time | "
                   f"failed: {seq['error'][:200]} |")
    else:
        s2r = seq.get("submit_to_running", {})
        s2c = seq.get("submit_to_completed", {})
        post = seq.get("post_call", {})
        out.append(f"| submit → Running (client POST start → server's Running timestamp), "
                   f"{s2r.get('n')} jobs one at a time | p50 {s2r.get('p50_ms')} ms, "
                   f"p95 {s2r.get('p95_ms')} ms |")
        out.append(f"| submit → Completed (`true`) | p50 {s2c.get('p50_ms')} ms, "
                   f"p95 {s2c.get('p95_ms')} ms |")
        out.append(f"| the POST itself | p50 {post.get('p50_ms')} ms, p95 {post.get('p95_ms')} "
                   f"ms |")
    if "error" in burst:
        out.append(f"| {p.get('burst_jobs')} × `echo hello` at once | failed: "
                   f"{burst['error'][:200]} |")
    else:
        out.append(f"| {burst.get('jobs')} × `echo hello` submitted at once → all Completed | "
                   f"{burst.get('wall_to_all_completed_s')} s wall, "
                   f"**{burst.get('jobs_per_s')} jobs/s** (submitting took "
                   f"{burst.get('submit_all_s')} s) |")
    out.append("")
    ex = seq.get("example_history_s_after_post")
    if ex:
        out.append("A typical job's status changes, seconds after the POST started: "
                   + ", ".join(f"{s} {t:.3f}" for s, t in ex) + ".")
        out.append("")
    return out


def _met(v: Any) -> str:
    return {True: "yes", False: "**no**"}.get(v, "–")


def _profile_lines(prof: Any, what: str) -> list[str]:
    """Hot spots of a py-spy profile taken with --subprocesses (server, runners, commands)."""
    if not isinstance(prof, dict) or not prof.get("top_self"):
        return []
    svg = Path(str(prof.get("svg"))).name
    out = [(f"Where the time went (py-spy on the Ember server and its subprocesses during "
            f"{prof.get('load', what)}, {prof.get('samples')} samples, "
            f"{prof.get('idle_wait_pct')}% idle waits; flamegraph `{svg}`):"), ""]
    shares = prof.get("by_process") or {}
    if shares:
        out.append("- samples by process: " + ", ".join(f"{k} {v}%" for k, v in
                                                        sorted(shares.items(),
                                                               key=lambda kv: -kv[1])) + ";")
    entry = ("ember/cli/", "ember/server/serve.py", "<frozen", "threading.py", "runpy",
             "asyncio/", "typer/", "click/", "concurrent/futures")
    ei = [x for x in prof.get("ember_inclusive") or [] if not any(e in x for e in entry)]
    other = [x for x in prof.get("top_inclusive") or []
             if not any(e in x for e in entry) and "ember/" not in x]
    if other:
        out.append("- other code by inclusive samples: "
                   + "; ".join(f"`{x.strip()}`" for x in other[:6]) + ";")
    if ei:
        out.append("- Ember functions by inclusive samples: "
                   + "; ".join(f"`{x.strip()}`" for x in ei[:8]) + ";")
    out.append("- top functions by own samples: "
               + "; ".join(f"`{x.strip()}`" for x in prof["top_self"][:8]) + ".")
    out.append("")
    return out


def pipelines_section(pl: dict[str, Any]) -> list[str]:
    out = ["### Pipelines (Ember; other tools' figures quoted from the issue, not run)", ""]
    if "error" in pl:
        out += [f"**Failed:** {pl['error'][:500]}", ""]
        return out
    p = pl.get("params", {})
    ch, rr, fo = pl.get("chain") or {}, pl.get("rerun") or {}, pl.get("fanout") or {}
    bare = pl.get("bare_process") or {}
    q = pl.get("quoted_not_run") or {}
    out.append(f"`{pl.get('ember_server_command')}`; a pipeline of {p.get('steps')} no-op "
               "steps (`true s<i> ${{inputs.x}}`), each consuming the previous step's output "
               "folder, submitted with `MLClient.jobs.create_or_update`. Wall = client's POST "
               "start → the pipeline's server-side `Completed` timestamp. Bare process cost "
               f"per step = `python -S -c pass` + `bash -c true` outside Ember (median of "
               f"{bare.get('n')}: {bare.get('python_S_pass_ms_median')} + "
               f"{bare.get('bash_true_ms_median')} ms) — Ember's runner is `python -S` and runs "
               "the command under bash.")
    out.append("")
    out.append("| Figure | Ember | Comparison | Comparison ÷ Ember | Target | Met |")
    out.append("|---|---:|---:|---:|---:|:---:|")
    if "error" in ch:
        out.append(f"| orchestration overhead per step | failed: {ch['error'][:200]} | | | | |")
    else:
        ov = ch.get("overhead_per_step_ms")
        mf, zm = q.get("metaflow_local_ms_per_step"), q.get("zenml_local_ms_per_step")
        # quoted ÷ Ember: above 1 means Ember's overhead is lower
        ratio = (f"{mf / ov:.2f}× (Metaflow), {zm / ov:.2f}× (ZenML)"
                 if isinstance(ov, (int, float)) and ov > 0 and mf and zm else "n/a")
        out.append(f"| orchestration overhead per step, {ch.get('steps')}-step chain (wall/step "
                   f"{ch.get('wall_per_step_ms')} ms − bare process "
                   f"{ch.get('bare_process_per_step_ms')} ms) | **{ov} ms** | "
                   f"Metaflow ~{mf:g} ms, ZenML ~{zm:g} ms (local, quoted) | "
                   f"{ratio} | ≤{ch.get('target_overhead_ms'):g} ms | {_met(ch.get('met'))} |")
    if "error" in rr:
        out.append(f"| full rerun, every step reused | failed: {rr['error'][:200]} | | | | |")
    else:
        out.append(f"| full rerun of the same pipeline, submit → Completed "
                   f"({rr.get('children_reused')}/{rr.get('steps')} steps reused"
                   f"{'' if rr.get('all_reused') else ' — NOT all'}) | "
                   f"**{fmt(rr.get('wall_s'), 's')}** | – | – | <{rr.get('target_s'):g} s | "
                   f"{_met(rr.get('met'))} |")
    out.append("")
    if "error" not in ch:
        et = ch.get("ember_timestamps") or {}
        ph = et.get("phases") or {}
        if (ch.get("submissions") or 1) > 1:
            out.append(f"**Ember bug hit:** {ch.get('ember_bug')} Here: "
                       + "; ".join(f"{a['pipeline']} {a['status']} after {a['steps_ran']} "
                                   f"steps ran ({a['steps_reused']} reused)"
                                   for a in ch.get("attempts") or []) + ".")
            out.append("")
        cpu = ch.get("_cpu") or {}
        out.append(f"Chain of {ch.get('steps')}: wall {fmt(ch.get('wall_s'), 's')} "
                   f"({ch.get('wall_per_step_ms')} ms/step; the server and its subprocesses "
                   f"used {cpu.get('server_cores')} cores, "
                   f"{ch.get('server_cpu_ms_per_step')} ms CPU per step). From Ember's own "
                   "timestamps: "
                   f"gaps between a step's `Completed` and the next step's `Running` sum to "
                   f"{et.get('sum_gaps_completed_to_next_running_s')} s (median "
                   f"{et.get('gap_ms_median')} ms, p95 {et.get('gap_ms_p95')} ms; "
                   + ", ".join(f"{k.replace('gap_ms_median_', 'median over the ')}"
                               .replace("_", " ") + f" {v} ms"
                               for k, v in et.items() if k.startswith("gap_ms_median_"))
                   + "); with submit → "
                   f"first `Running` ({et.get('submit_to_first_running_ms')} ms) and last step → "
                   f"pipeline `Completed` ({et.get('last_step_completed_to_pipeline_completed_ms')}"
                   f" ms) that is **{et.get('between_steps_per_step_ms')} ms per step between "
                   f"steps**; a step's own `Running` → `Completed` (bash + runner report) median "
                   f"{et.get('running_to_completed_ms_median')} ms. Step phases (median ms): "
                   + ", ".join(f"{k.replace('_ms_median', '').replace('_', ' ')} {v}"
                               for k, v in ph.items()) + ".")
        out.append("")
    if fo and "error" not in fo:
        out.append(f"Fan-out variant: a root step and {int(fo.get('steps', 1)) - 1} steps "
                   f"consuming its output, at most {fo.get('max_concurrent_jobs')} jobs at once: "
                   f"{fmt(fo.get('wall_s'), 's')}, {fo.get('wall_per_step_ms')} ms/step "
                   f"({fo.get('steps_per_s')} steps/s).")
        out.append("")
    elif fo:
        out += [f"Fan-out variant failed: {fo['error'][:300]}", ""]
    prof = pl.get("profile") or {}
    for key, what in (("chain", "another chain run"), ("rerun", "more fully reused reruns")):
        out += _profile_lines(prof.get(key), what)
    return out


def sweeps_section(sw: dict[str, Any]) -> list[str]:
    out = ["### Sweeps, Ember vs Ray Tune (Optuna search)", ""]
    if "error" in sw:
        out += [f"**Failed:** {sw['error'][:500]}", ""]
    p = sw.get("params", {})
    ray = sw.get("ray") or {}
    em, rest = sw.get("ember") or {}, sw.get("ember_rest_trial") or {}
    cmp_ = sw.get("comparison") or {}
    bare = sw.get("bare_trial") or {}
    out.append(f"{p.get('trials')} trials, at most {p.get('concurrency')} at once, TPE sampling "
               f"(seed {p.get('seed')}) of `x ~ uniform(-10, 10)`, one metric `loss = x**2` "
               "reported once per trial, nothing else done. Ember: `type: sweep` job, "
               "`sampling_algorithm: bayesian` (Optuna TPESampler), every trial its own process "
               "`python trial.py <x>` calling `mlflow.log_metric`; "
               f"`{sw.get('ember_server_command')}`. Ray "
               f"{ray.get('ray_version', '(not installed)')} Tune: function trainable calling "
               "`tune.report`, `OptunaSearch` (optuna "
               f"{ray.get('optuna_version', '?')}), `max_concurrent_trials="
               f"{p.get('concurrency')}`, `ray.init(num_cpus={p.get('concurrency')}, "
               "include_dashboard=False, log_to_driver=False, object_store_memory=100 MiB)`. "
               "Per-trial overhead = sweep wall time ÷ trials (the trials' work is ~0); "
               f"Ray's wall is Tuner + `fit()` — **`ray.init` ({ray.get('ray_init_s')} s) is "
               "excluded**.")
    out.append("")
    out.append("| Figure | Ember | Ray Tune | Ray ÷ Ember | Target | Met |")
    out.append("|---|---:|---:|---:|---:|:---:|")
    ray_cell = (f"{ray.get('per_trial_ms')} ms" if ray.get("per_trial_ms") is not None
                else f"n/a ({str(ray.get('error', 'not run'))[:120]})")

    def row(label: str, e: dict[str, Any], ratio: Any, target: bool) -> str:
        if "error" in e:
            return f"| {label} | failed: {e['error'][:150]} | {ray_cell} | – | – | – |"
        r = f"{ratio:.2f}×" if isinstance(ratio, (int, float)) else "n/a"
        tgt = f"≥{cmp_.get('target_ratio', 10):g}×" if target else "– (informative)"
        met = _met(cmp_.get("met")) if target else "–"
        return (f"| {label} | **{e.get('per_trial_ms')} ms** (sweep {fmt(e.get('wall_s'), 's')}) |"
                f" {ray_cell} (fit {fmt(ray.get('fit_wall_s'), 's')}) | {r} | {tgt} | {met} |")

    if em:
        out.append(row("per-trial overhead, trial logs with `mlflow.log_metric`", em,
                       cmp_.get("ratio_ray_over_ember"), True))
    if rest:
        out.append(row("per-trial overhead, trial logs with one stdlib POST to the MLflow "
                       "REST API (no `import mlflow`)", rest,
                       cmp_.get("ember_rest_trial_ratio_ray_over_ember"), False))
    out.append("")
    if bare:
        out.append(f"The trial process's own cost outside any orchestrator (median of "
                   f"{bare.get('n')}): `python -S -c pass` {bare.get('python_S_pass_ms_median')}"
                   f" ms, `python -c 'import mlflow'` {bare.get('python_import_mlflow_ms_median')}"
                   f" ms, `python -c 'import json, urllib.request'` "
                   f"{bare.get('python_import_urllib_request_ms_median')} ms. With "
                   f"{p.get('concurrency')} trials at once on {sw.get('machine', {}).get('nproc')}"
                   " CPUs, the mlflow import is paid by every trial.")
        out.append("")
    for key, label in (("ember", "mlflow trial"), ("ember_rest_trial", "REST trial")):
        e = sw.get(key) or {}
        ph = e.get("trial_phases_ms_median") or {}
        if ph:
            out.append(f"Ember {label}: trial phases (median ms) "
                       + ", ".join(f"{k.split(' (')[0].replace('_', ' ')} {v}"
                                   for k, v in ph.items())
                       + f"; peak {e.get('peak_concurrent_trials')} trials at once; best loss "
                         f"{e.get('best_objective')}; server tree used "
                         f"{(e.get('_cpu') or {}).get('server_cores')} cores, others "
                         f"{(e.get('_cpu') or {}).get('others_cores')}.")
    if ray and "error" not in ray:
        out.append(f"Ray: import {ray.get('import_s')} s, `ray.init` {ray.get('ray_init_s')} s "
                   f"(excluded), fit {ray.get('fit_wall_s')} s, shutdown "
                   f"{ray.get('ray_shutdown_s')} s; {ray.get('trials')} trials, "
                   f"{ray.get('trials_errored')} errored; best loss {ray.get('best_objective')}; "
                   f"the machine was busy {(ray.get('_cpu') or {}).get('machine_busy_cores')} "
                   "cores on average over Ray's whole run (Ray's processes included).")
        ra = ray.get("reuse_actors") or {}
        if ra.get("per_trial_ms") is not None:
            r = dig(sw, "ember", "per_trial_ms")
            out.append(f"Informative: Ray with `reuse_actors=True` (one actor per slot reused "
                       f"across trials; run second in the same Ray session): "
                       f"{ra.get('per_trial_ms')} ms per trial (fit {ra.get('fit_wall_s')} s)"
                       + (f", {ra['per_trial_ms'] / r:.2f}× Ember's mlflow-trial figure"
                          if isinstance(r, (int, float)) and r else "") + ".")
    out.append("")
    out += _profile_lines(sw.get("profile"), "the mlflow-trial sweep")
    return out


def serving_section(sv: dict[str, Any]) -> list[str]:
    out = ["### Online serving, Ember endpoint vs `mlflow models serve`", ""]
    if "error" in sv:
        out += [f"**Failed:** {sv['error'][:800]}", ""]
    out.append("Same sklearn `LogisticRegression` MLflow model (4 float columns, signature), one "
               "row per request as a split DataFrame. `mlflow models serve -m <model> "
               "--env-manager local` (default 1 worker; also `--workers 2`). Ember: endpoint + "
               "no-code MLflow deployment, `instance_count: 2`, "
               "`max_concurrent_requests_per_instance: 16`, called through the router with the "
               "key. Closed-loop keep-alive clients in 4 processes, "
               f"{sv.get('seconds_per_point')} s per point.")
    out.append("")
    out.append("| Clients | mlflow serve (1 worker) | mlflow serve (2 workers) | Ember | "
               "Ember ÷ mlflow (1 worker) |")
    out.append("|---:|---|---|---|---:|")
    for n in ("1", "32"):
        cells = []
        for key in ("mlflow_serve_1w", "mlflow_serve_2w", "ember"):
            r = dig(sv, key, n) or {}
            cells.append(f"{r.get('throughput_rps')} req/s, p50 {r.get('p50_ms')} ms, p99 "
                         f"{r.get('p99_ms')} ms" + (f", {r['failed']} failed"
                                                    if r.get("failed") else ""))
        a, b = dig(sv, "ember", n, "throughput_rps"), dig(sv, "mlflow_serve_1w", n,
                                                          "throughput_rps")
        ratio = f"{a / b:.2f}×" if a and b else "n/a"
        out.append(f"| {n} | {' | '.join(cells)} | {ratio} |")
    out.append("")
    t = sv.get("targets") or {}
    ro = sv.get("router_overhead") or {}
    rl = sv.get("rollout") or {}
    out.append("| Target | Figure | Met |")
    out.append("|---|---|:---:|")
    out.append(f"| throughput at 32 clients ≥2× mlflow serve | "
               f"{sv.get('throughput_ratio_32')}× ({sv.get('throughput_ratio_32_vs_2_workers')}× "
               f"against `--workers 2`) | {_met(t.get('met_throughput'))} |")
    out.append(f"| router overhead p50 ≤1 ms | {ro.get('overhead_p50_ms')} ms (direct to a "
               f"worker p50 {ro.get('direct_p50_ms')} ms, through the router "
               f"{ro.get('router_p50_ms')} ms; {ro.get('requests_each')} sequential requests "
               f"each) | {_met(t.get('met_router_overhead'))} |")
    out.append(f"| failed requests during a rollout under load = 0 | {rl.get('failed')} failed "
               f"of {rl.get('requests')} (8 clients; the update took {rl.get('rollout_s')} s) | "
               f"{_met(t.get('met_rollout'))} |")
    out.append("")
    return out


def build_markdown(tracking: dict[str, Any] | None, jobs: dict[str, Any] | None,
                   machine: dict[str, str], quick: bool,
                   pipelines: dict[str, Any] | None = None,
                   sweeps: dict[str, Any] | None = None,
                   serving: dict[str, Any] | None = None,
                   ray: dict[str, Any] | None = None) -> str:
    m = machine
    lines = ["## Benchmarks" + (" (quick smoke run — not representative)" if quick else ""), ""]
    lines.append(f"- Date: {m.get('date_utc')}")
    lines.append(f"- Machine: {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('ram')} RAM, "
                 f"{m.get('platform')}")
    lines.append(f"- Python {m.get('python')}, mlflow {m.get('mlflow')}, ember {m.get('ember')}")
    if tracking:
        lines.append(f"- mlflow server command: `{tracking.get('mlflow_server_command')}`")
    lines.append("- Reproduce: `python benchmarks/run_all.py` (see benchmarks/README.md)")
    lines.append("")
    if tracking:
        lines += tracking_section(tracking)
    else:
        lines += ["### Tracking", "", "Not run.", ""]
    if jobs:
        lines += jobs_section(jobs)
    if pipelines:
        lines += pipelines_section(pipelines)
    if sweeps:
        lines += sweeps_section(sweeps)
    if serving:
        lines += serving_section(serving)
    if ray:
        import bench_ray

        lines += bench_ray.markdown(ray).splitlines() + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run of everything")
    ap.add_argument("--no-default-workers", action="store_true",
                    help="skip measuring mlflow server with its default 4 workers")
    ap.add_argument("--profile", choices=("off", "missed", "all"), default="missed",
                    help="py-spy the Ember server after the tracking, pipeline and sweep "
                         "tests (default: only if a target was missed)")
    ap.add_argument("--skip-tracking", action="store_true")
    ap.add_argument("--skip-jobs", action="store_true")
    ap.add_argument("--skip-pipelines", action="store_true")
    ap.add_argument("--skip-sweeps", action="store_true")
    ap.add_argument("--skip-serving", action="store_true")
    ap.add_argument("--skip-ray", action="store_true",
                    help="skip bench_ray.py (jobs and a sweep on a loopback Ray cluster)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rebuild the markdown from existing bench-results/*.json")
    ap.add_argument("--out-dir", type=Path, default=c.RESULTS)
    args = ap.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the running benchmark (and its servers) is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tracking_json, jobs_json = out_dir / "tracking.json", out_dir / "jobs.json"
    pipelines_json, sweeps_json = out_dir / "pipelines.json", out_dir / "sweeps.json"
    serving_json, ray_json = out_dir / "serving.json", out_dir / "ray.json"
    rcs = {}
    if not args.report_only:
        quick_args = ["--quick"] if args.quick else []
        if not args.skip_tracking:
            targs = [*quick_args, "--out", str(tracking_json), "--profile", args.profile]
            if not args.no_default_workers:
                targs.append("--also-default-workers")
            rcs["tracking"] = run("bench_tracking.py", targs, 1000 if args.quick else 3700)
        if not args.skip_jobs:
            rcs["jobs"] = run("bench_jobs.py", [*quick_args, "--out", str(jobs_json)],
                              700 if args.quick else 1900)
        if not args.skip_pipelines:
            rcs["pipelines"] = run("bench_pipelines.py",
                                   [*quick_args, "--out", str(pipelines_json),
                                    "--profile", args.profile], 700 if args.quick else 1900)
        if not args.skip_sweeps:
            # Ray Tune's start-up alone takes tens of seconds on a small machine.
            rcs["sweeps"] = run("bench_sweeps.py",
                                [*quick_args, "--out", str(sweeps_json),
                                 "--profile", args.profile], 1000 if args.quick else 3100)
        if not args.skip_serving:
            rcs["serving"] = run("bench_serving.py", [*quick_args, "--out", str(serving_json)],
                                 600 if args.quick else 1200)
        if not args.skip_ray:
            # 4 × 100 Ray jobs and three 50-trial sweeps: ~35-45 min on 2 shared CPUs
            rcs["ray"] = run("bench_ray.py", [*quick_args, "--out", str(ray_json),
                                              "--profile", args.profile],
                             1300 if args.quick else 3100)

    def load(p: Path) -> dict[str, Any] | None:
        try:
            return json.loads(p.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    tracking = None if args.skip_tracking else load(tracking_json)
    jobs = None if args.skip_jobs else load(jobs_json)
    pipelines = None if args.skip_pipelines else load(pipelines_json)
    sweeps = None if args.skip_sweeps else load(sweeps_json)
    serving = None if args.skip_serving else load(serving_json)
    ray = None if args.skip_ray else load(ray_json)
    found = [r for r in (tracking, jobs, pipelines, sweeps, serving, ray) if r]
    machine = next((r["machine"] for r in found if r.get("machine")), None) or c.machine_info()
    quick = any(bool(r.get("quick")) for r in found)
    md = build_markdown(tracking, jobs, machine, quick, pipelines, sweeps, serving, ray)
    (out_dir / "BENCHMARKS.section.md").write_text(md)
    print(md)
    print(f"wrote {out_dir / 'BENCHMARKS.section.md'}", file=sys.stderr)
    return 0 if all(rc == 0 for rc in rcs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
