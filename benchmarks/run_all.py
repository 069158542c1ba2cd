"""Run every benchmark and write a markdown section with Ember vs ``mlflow server`` ratios.

Usage: python benchmarks/run_all.py [--quick] [--no-default-workers] [--profile off|missed|all]

Runs bench_tracking.py and bench_jobs.py as subprocesses (each cleans up its own servers), then
writes bench-results/BENCHMARKS.section.md from bench-results/{tracking,jobs}.json.
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


def build_markdown(tracking: dict[str, Any] | None, jobs: dict[str, Any] | None,
                   machine: dict[str, str], quick: bool) -> str:
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
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run of everything")
    ap.add_argument("--no-default-workers", action="store_true",
                    help="skip measuring mlflow server with its default 4 workers")
    ap.add_argument("--profile", choices=("off", "missed", "all"), default="missed",
                    help="py-spy the Ember server after the tracking tests (default: only if "
                         "a target was missed)")
    ap.add_argument("--skip-tracking", action="store_true")
    ap.add_argument("--skip-jobs", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="only rebuild the markdown from existing bench-results/*.json")
    ap.add_argument("--out-dir", type=Path, default=c.RESULTS)
    args = ap.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the running benchmark (and its servers) is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tracking_json, jobs_json = out_dir / "tracking.json", out_dir / "jobs.json"
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

    def load(p: Path) -> dict[str, Any] | None:
        try:
            return json.loads(p.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    tracking = None if args.skip_tracking else load(tracking_json)
    jobs = None if args.skip_jobs else load(jobs_json)
    machine = (tracking or {}).get("machine") or (jobs or {}).get("machine") or c.machine_info()
    quick = bool((tracking or {}).get("quick") or (jobs or {}).get("quick"))
    md = build_markdown(tracking, jobs, machine, quick)
    (out_dir / "BENCHMARKS.section.md").write_text(md)
    print(md)
    print(f"wrote {out_dir / 'BENCHMARKS.section.md'}", file=sys.stderr)
    return 0 if all(rc == 0 for rc in rcs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
