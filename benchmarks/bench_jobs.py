"""Ember job engine latency and throughput (Ember only; mlflow server has no job runner).

  a. submit -> Running: N trivial jobs (``command(command="true")``, no environment, i.e. the
     default/cached environment) submitted one at a time, each waited to the end. For each, the
     time from the client's POST start to the server's "Running" status-change timestamp (same
     machine, same clock)                                                  -> p50/p95
  b. burst: M ``echo hello`` jobs submitted back to back, wall time from the first POST until all
     are Completed                                                         -> seconds, jobs/s

Usage: python benchmarks/bench_jobs.py [--quick]
Writes bench-results/jobs.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

import _common as c  # noqa: E402
from _common import describe, status_time  # noqa: E402

TERMINAL = {"Completed", "Failed", "Canceled"}


def params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"sequential_jobs": 3, "burst_jobs": 4, "warmup_jobs": 1, "job_timeout_s": 120,
                "poll_s": 0.02}
    return {"sequential_jobs": 30, "burst_jobs": 20, "warmup_jobs": 2, "job_timeout_s": 300,
            "poll_s": 0.02}


def wait_terminal(client: Any, name: str, timeout: float, poll: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = client.jobs.get(name)
        if job.status in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {name} still {job.status} after {timeout}s")
        time.sleep(poll)






def test_sequential(client: Any, command: Any, p: dict[str, Any]) -> dict[str, Any]:
    """Submit one, wait for it, repeat; warm-up jobs (cold environment, imports) excluded."""
    rows = []
    for i in range(p["warmup_jobs"] + p["sequential_jobs"]):
        t_post = time.time()
        job = client.jobs.create_or_update(command(command="true"), experiment_name="bench-jobs")
        t_returned = time.time()
        job = wait_terminal(client, job.name, p["job_timeout_s"], p["poll_s"])
        t_seen_done = time.time()
        if job.status != "Completed":
            raise RuntimeError(f"job did not complete: {describe(job)}")
        running = status_time(job, "Running")
        completed = status_time(job, "Completed")
        row = {
            "name": job.name,
            "warmup": i < p["warmup_jobs"],
            "post_s": t_returned - t_post,
            "submit_to_running_s": None if running is None else running - t_post,
            "submit_to_completed_s": None if completed is None else completed - t_post,
            "submit_to_client_sees_done_s": t_seen_done - t_post,
            "history": [(h.status, round(h.time - t_post, 4)) for h in job.status_history],
        }
        rows.append(row)
    measured = [r for r in rows if not r["warmup"]]

    def summary(key: str) -> dict[str, Any]:
        vals = [r[key] for r in measured if r[key] is not None]
        if not vals:
            return {"n": 0}
        return {"n": len(vals), "p50_ms": round(c.percentile(vals, 50) * 1000, 1),
                "p95_ms": round(c.percentile(vals, 95) * 1000, 1),
                "min_ms": round(min(vals) * 1000, 1), "max_ms": round(max(vals) * 1000, 1)}

    return {
        "submit_to_running": summary("submit_to_running_s"),
        "post_call": summary("post_s"),
        "submit_to_completed": summary("submit_to_completed_s"),
        "submit_to_client_sees_done": summary("submit_to_client_sees_done_s"),
        "warmup_submit_to_running_ms": [round((r["submit_to_running_s"] or 0) * 1000, 1)
                                        for r in rows if r["warmup"]],
        "example_history_s_after_post": measured[len(measured) // 2]["history"] if measured
        else None,
    }


def test_burst(client: Any, command: Any, p: dict[str, Any]) -> dict[str, Any]:
    n = p["burst_jobs"]
    t0 = time.time()
    names = [client.jobs.create_or_update(command(command="echo hello"),
                                          experiment_name="bench-jobs").name for _ in range(n)]
    t_submitted = time.time()
    pending = set(names)
    done: dict[str, Any] = {}
    deadline = time.monotonic() + p["job_timeout_s"] + 10 * n
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} burst jobs not finished")
        for name in list(pending):
            job = client.jobs.get(name)
            if job.status in TERMINAL:
                done[name] = job
                pending.discard(name)
        if pending:
            time.sleep(p["poll_s"] * 5)
    t_client_done = time.time()
    failed = [describe(j) for j in done.values() if j.status != "Completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} burst jobs did not complete: {failed[:3]}")
    last_completed = max(status_time(j, "Completed") or t_client_done for j in done.values())
    wall = last_completed - t0
    return {
        "jobs": n,
        "submit_all_s": round(t_submitted - t0, 3),
        "wall_to_all_completed_s": round(wall, 3),
        "jobs_per_s": round(n / wall, 2),
        "wall_client_observed_s": round(t_client_done - t0, 3),
        "first_running_s": round(min(status_time(j, "Running") or 1e18 for j in done.values())
                                 - t0, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few jobs (smoke run)")
    ap.add_argument("--settle", type=float, default=None,
                    help="minimum seconds after /health before measuring (default 5; quick 1)")
    ap.add_argument("--profile", action="store_true",
                    help="record the server with py-spy during the sequential test")
    ap.add_argument("--out", type=Path, default=c.RESULTS / "jobs.json")
    ap.add_argument("--deadline", type=int, default=None, help="overall timeout in seconds")
    args = ap.parse_args(argv)

    p = params(args.quick)
    settle = args.settle if args.settle is not None else (1.0 if args.quick else 5.0)
    c.install_deadline(args.deadline or (600 if args.quick else 1800))
    result: dict[str, Any] = {"benchmark": "jobs", "quick": args.quick, "params": p,
                              "machine": c.machine_info(),
                              "ember_server_command":
                                  "python -m ember.cli.main server start --home <d> --port 0"}
    try:
        from ember import MLClient, command

        with c.ember_server(settle=settle) as srv:
            result["settled_s"] = srv.extra.get("settled_s")
            client = MLClient(endpoint=srv.url)
            for key, fn in (("sequential", test_sequential), ("burst", test_burst)):
                t0 = time.perf_counter()
                try:
                    if key == "sequential" and args.profile:
                        with c.py_spy(srv.pid, c.RESULTS / "profile-ember-jobs.svg",
                                      duration=10) as prof:
                            result[key] = fn(client, command, p)
                        result["profile"] = prof
                    else:
                        result[key] = fn(client, command, p)
                except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # noqa: BLE001 - record and continue
                    result[key] = {"error": f"{exc.__class__.__name__}: {exc}"[:2000],
                                   "traceback": traceback.format_exc()[-2000:]}
                print(f"  [ember] jobs {key}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            client.close()
    except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a server that won't start is a result too
        result["error"] = f"{exc.__class__.__name__}: {exc}"[:3000]
    c.write_json(args.out, result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=str).decode())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except c.BenchTimeout as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(3)
