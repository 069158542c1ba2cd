"""Sweep per-trial overhead, Ember vs Ray Tune (with Optuna search), on the same trivial trial.

Both run N trials (default 50), at most 4 at once, TPE sampling of one ``uniform(-10, 10)``
hyperparameter ``x``, objective ``loss = x**2`` minimised; the trial does no work besides
reporting that one metric once.

  Ember: a ``type: sweep`` job (``sampling_algorithm: {type: bayesian, seed}`` = Optuna's
         ``TPESampler``), ``limits: {max_total_trials: N, max_concurrent_trials: 4}``, on a
         server started with ``--max-concurrent-jobs 4``. Each trial is its own process:
         ``python trial.py <x>`` that does ``mlflow.log_metric("loss", x * x)``. Wall = client's
         POST start -> the sweep's server-side ``Completed`` timestamp.
         Also (informative) the same sweep whose trial logs the metric with one stdlib HTTP
         POST to the MLflow REST API (``runs/log-metric``) instead of importing mlflow: this
         separates Ember's orchestration from the trial process's own ``import mlflow``.
  Ray:   ``tune.Tuner`` with a function trainable that calls ``tune.report({"loss": x * x})``,
         ``TuneConfig(search_alg=OptunaSearch(seed), metric="loss", mode="min",
         num_samples=N, max_concurrent_trials=4)``, after ``ray.init(num_cpus=4,
         include_dashboard=False, log_to_driver=False, object_store_memory=100 MiB)`` in a
         child process. Wall = Tuner construction + ``fit()``; ``ray.init`` (cluster start-up)
         is measured separately and excluded.

Per-trial overhead = wall / trials for both (the trials' work is ~0). Target (issue 3): Ember's
per-trial overhead <= 1/10 of Ray Tune's.

Usage: python benchmarks/bench_sweeps.py [--quick] [--trials N] [--skip-ray] [--profile ...]
Writes bench-results/sweeps.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

import _common as c  # noqa: E402
from _common import describe, status_time  # noqa: E402

TERMINAL = {"Completed", "Failed", "Canceled"}
TARGET_RATIO = 10.0       # Ray's per-trial overhead / Ember's must be >= this
CONCURRENCY = 4
SEED = 7

TRIAL_MLFLOW = """\
import sys
import mlflow
x = float(sys.argv[1])
mlflow.log_metric("loss", x * x)
"""

# The same report over the MLflow REST protocol with the standard library only (no mlflow).
TRIAL_REST = """\
import json, os, sys, time, urllib.request
x = float(sys.argv[1])
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": x * x,
                   "timestamp": int(time.time() * 1000), "step": 0}).encode()
req = urllib.request.Request(
    os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/runs/log-metric",
    data=body, headers={"Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req, timeout=30).read()
"""


def params(quick: bool, trials: int | None) -> dict[str, Any]:
    n = trials or (8 if quick else 50)
    return {"trials": n, "concurrency": CONCURRENCY, "seed": SEED,
            "sweep_timeout_s": 300 if quick else 1200, "ray_timeout_s": 300 if quick else 900,
            "poll_s": 0.2, "bare_runs": 3 if quick else 5}


def sweep_yaml(n: int, script: str, name: str) -> str:
    conc = min(CONCURRENCY, n)
    return f"""\
type: sweep
experiment_name: bench-sweeps
display_name: {name}
trial:
  code: ./src
  command: python {script} ${{{{search_space.x}}}}
search_space:
  x: {{type: uniform, min_value: -10, max_value: 10}}
sampling_algorithm: {{type: bayesian, seed: {SEED}}}
objective: {{primary_metric: loss, goal: minimize}}
limits: {{max_total_trials: {n}, max_concurrent_trials: {conc}}}
"""






def ms(v: float) -> float:
    return round(v * 1000, 1)


def bare_trial_cost(n: int) -> dict[str, Any]:
    """The trial processes' own start-up outside any orchestrator (median of n)."""
    out: dict[str, Any] = {"n": n}
    for key, cmd in (("python_S_pass", [sys.executable, "-S", "-c", "pass"]),
                     ("python_import_mlflow", [sys.executable, "-c", "import mlflow"]),
                     ("python_import_urllib_request",
                      [sys.executable, "-c", "import json, urllib.request"])):
        vals = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
            vals.append(time.perf_counter() - t0)
        out[f"{key}_ms_median"] = ms(c.median(vals))
    return out


# ---------------------------------------------------------------------------------------------
# Ember


def run_ember_sweep(client: Any, srv: c.Server, workdir: Path, script: str, name: str,
                    p: dict[str, Any]) -> dict[str, Any]:
    from ember.specs.any_job import load_any_job_spec

    n = p["trials"]
    spec = workdir / f"{name}.yml"
    spec.write_text(sweep_yaml(n, script, name))
    job_spec = load_any_job_spec(spec)
    meter = c.CpuMeter([srv.proc.pid])
    t_post = time.time()
    job = client.jobs.create_or_update(job_spec)
    t_returned = time.time()
    job = c.wait_job_ended(client, job.name, terminal=TERMINAL, timeout_s=p["sweep_timeout_s"],
                           poll_s=p["poll_s"], what="sweep")
    t_seen = time.time()
    cpu = meter.read()
    trials = list(client.jobs.list(parent_job_name=job.name, max_results=10_000))
    if job.status != "Completed":
        bad = [describe(t) for t in trials if t.status != "Completed"][:3]
        raise RuntimeError(f"sweep ended {job.status}: {getattr(job, 'error', None)!r}; {bad}")
    done = [t for t in trials if t.status == "Completed"]
    completed = status_time(job, "Completed", last=True) or t_seen
    wall = completed - t_post

    def med(a: str, b: str) -> float | None:
        vals = [tb - ta for t in done if (ta := status_time(t, a)) is not None
                and (tb := status_time(t, b, last=True)) is not None]
        return ms(c.median(vals)) if vals else None

    running_spans = [(status_time(t, "Running"), status_time(t, "Completed", last=True))
                     for t in done]
    in_trial = sum(b - a for a, b in running_spans if a is not None and b is not None)
    # Peak concurrency seen in the timestamps (Preparing .. end of each trial).
    events = []
    for t in trials:
        start = status_time(t, "Preparing") or status_time(t, "Running")
        end = status_time(t, t.status, last=True)
        if start is not None and end is not None:
            events += [(start, 1), (end, -1)]
    peak = cur = 0
    for _, d in sorted(events):
        cur += d
        peak = max(peak, cur)
    return {
        "sweep": job.name,
        "trials": len(trials),
        "trials_completed": len(done),
        "wall_s": round(wall, 3),
        "wall_client_observed_s": round(t_seen - t_post, 3),
        "post_s": round(t_returned - t_post, 3),
        "per_trial_ms": ms(wall / n),
        "best_objective": (job.properties or {}).get("best_objective"),
        "peak_concurrent_trials": peak,
        "trial_phases_ms_median": {
            "Queued_to_Preparing": med("Queued", "Preparing"),
            "Preparing_to_Starting": med("Preparing", "Starting"),
            "Starting_to_Running": med("Starting", "Running"),
            "Running_to_Completed (the trial process: python, imports, the report)":
                med("Running", "Completed"),
        },
        "sum_trial_running_s": round(in_trial, 2),
        "_cpu": cpu,
    }


# ---------------------------------------------------------------------------------------------
# Ray Tune (in a child process: ray.init is heavy, and a timeout must be able to kill it all)


def ray_child(out: Path, n: int, concurrency: int, seed: int, tmp: Path,
              reuse_variant: bool) -> None:
    result: dict[str, Any] = {}
    try:
        t_import0 = time.perf_counter()
        import ray
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch

        result["import_s"] = round(time.perf_counter() - t_import0, 3)
        result["ray_version"] = ray.__version__
        import optuna

        result["optuna_version"] = optuna.__version__
        t0 = time.perf_counter()
        ray.init(num_cpus=concurrency, include_dashboard=False, log_to_driver=False,
                 object_store_memory=100 * 1024 * 1024, _temp_dir=str(tmp / "ray"),
                 configure_logging=False)
        result["ray_init_s"] = round(time.perf_counter() - t0, 3)

        def trainable(config: dict[str, float]) -> None:
            tune.report({"loss": config["x"] ** 2})

        t1 = time.perf_counter()
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(-10, 10)},
            tune_config=tune.TuneConfig(search_alg=OptunaSearch(seed=seed), metric="loss",
                                        mode="min", num_samples=n,
                                        max_concurrent_trials=concurrency),
            run_config=tune.RunConfig(storage_path=str(tmp / "results"), name="bench",
                                      verbose=0))
        grid = tuner.fit()
        wall = time.perf_counter() - t1
        results = [grid[i] for i in range(len(grid))]
        errors = [str(r.error)[:300] for r in results if r.error]
        best = grid.get_best_result(metric="loss", mode="min")
        result.update({
            "fit_wall_s": round(wall, 3),
            "trials": len(grid),
            "trials_errored": len(errors),
            "errors": errors[:3],
            "per_trial_ms": ms(wall / n),
            "best_objective": best.metrics.get("loss") if best and best.metrics else None,
        })
        if reuse_variant:
            # Informative: Ray's faster setting, one actor per concurrent slot reused across
            # trials (Ember has no equivalent: every trial is a fresh process).
            t3 = time.perf_counter()
            tuner = tune.Tuner(
                trainable,
                param_space={"x": tune.uniform(-10, 10)},
                tune_config=tune.TuneConfig(search_alg=OptunaSearch(seed=seed), metric="loss",
                                            mode="min", num_samples=n,
                                            max_concurrent_trials=concurrency,
                                            reuse_actors=True),
                run_config=tune.RunConfig(storage_path=str(tmp / "results"),
                                          name="bench-reuse", verbose=0))
            grid2 = tuner.fit()
            wall2 = time.perf_counter() - t3
            result["reuse_actors"] = {
                "fit_wall_s": round(wall2, 3), "trials": len(grid2),
                "trials_errored": sum(1 for i in range(len(grid2)) if grid2[i].error),
                "per_trial_ms": ms(wall2 / n),
                "note": "run second, in the same Ray session"}
        t2 = time.perf_counter()
        ray.shutdown()
        result["ray_shutdown_s"] = round(time.perf_counter() - t2, 3)
    except Exception as exc:  # noqa: BLE001 - report it
        result["error"] = f"{exc.__class__.__name__}: {exc}"[:2000]
        result["traceback"] = traceback.format_exc()[-3000:]
    out.write_text(json.dumps(result, default=str))


def run_ray(p: dict[str, Any], reuse_variant: bool) -> dict[str, Any]:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        return {"error": f"ray[tune] is not installed ({exc}); pip install 'ray[tune]>=2.9'",
                "installed": False}
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp"))
    out = tmp / "result.json"
    env = dict(os.environ)
    env.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0",
                "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1", "PYTHONWARNINGS": "ignore"})
    log_path = tmp / "ray.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--ray-child", str(out),
           "--trials", str(p["trials"]), "--ray-tmp", str(tmp),
           *([] if reuse_variant else ["--no-ray-reuse-actors"])]
    # Ray's daemons and workers are not all reaped through our child, so Ray's CPU can't be
    # told apart from other load: record the whole machine's busy cores over the run.
    busy0 = c._machine_busy_ticks()
    t0 = time.perf_counter()
    proc = c._spawn(cmd, log_path, env=env)
    try:
        try:
            proc.wait(timeout=p["ray_timeout_s"])
        except subprocess.TimeoutExpired:
            return {"error": f"Ray Tune did not finish in {p['ray_timeout_s']}s",
                    "log_tail": log_path.read_text(errors="replace")[-2000:]}
        wall = time.perf_counter() - t0
        machine = (c._machine_busy_ticks() - busy0) / os.sysconf("SC_CLK_TCK")
        cpu = {"wall_s": round(wall, 3), "machine_busy_cores": round(machine / wall, 2),
               "note": "all processes on the machine (Ray's included) over the whole child "
                       "process: import, ray.init, fit(s), shutdown"}
        if not out.exists():
            return {"error": f"Ray child exited {proc.returncode} without a result",
                    "log_tail": log_path.read_text(errors="replace")[-2000:]}
        res: dict[str, Any] = json.loads(out.read_text())
        res["child_process_wall_s"] = round(time.perf_counter() - t0, 3)
        res["_cpu"] = cpu
        res["installed"] = True
        return res
    finally:
        c.stop_process_group(proc, grace=10)
        c._rmtree(tmp)


# ---------------------------------------------------------------------------------------------


def profile_sweep(client: Any, srv: c.Server, workdir: Path, p: dict[str, Any],
                  expect_s: float) -> dict[str, Any]:
    """Run the headline (mlflow-trial) sweep again under py-spy, server and subprocesses."""
    from bench_pipelines import py_spy_tree

    n = min(p["trials"], 20)   # enough samples; the raw stacks of 50 trials run to ~70 MB
    duration = int(min(max(expect_s * n / p["trials"] * 1.3 + 3, 10), 150))
    with py_spy_tree(srv.pid, c.RESULTS / "profile-ember-sweep.svg", duration, 50) as result:
        run = run_ember_sweep(client, srv, workdir, "trial_mlflow.py", "sweep-mlflow-profiled",
                              dict(p, trials=n))
        result["load"] = f"the mlflow-trial sweep again ({n} trials)"
        result["sweep_wall_under_profiler_s"] = run["wall_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 trials (smoke run)")
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--settle", type=float, default=None,
                    help="minimum seconds after /health before measuring (default 5; quick 1)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--no-ray-reuse-actors", action="store_true",
                    help="skip the informative second Ray run with reuse_actors=True")
    ap.add_argument("--skip-rest", action="store_true",
                    help="skip the informative sweep whose trial logs without mlflow")
    ap.add_argument("--profile", choices=("off", "missed", "all"), default="missed",
                    help="py-spy the Ember server (with --subprocesses) during another sweep")
    ap.add_argument("--out", type=Path, default=c.RESULTS / "sweeps.json")
    ap.add_argument("--deadline", type=int, default=None, help="overall timeout in seconds")
    ap.add_argument("--ray-child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ray-tmp", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    p = params(args.quick, args.trials)
    if args.ray_child is not None:
        ray_child(args.ray_child, p["trials"], CONCURRENCY, SEED, args.ray_tmp,
                  not args.no_ray_reuse_actors)
        return 0
    settle = args.settle if args.settle is not None else (1.0 if args.quick else 5.0)
    c.install_deadline(args.deadline or (900 if args.quick else 3000))
    server_args = ["--max-concurrent-jobs", str(CONCURRENCY)]
    result: dict[str, Any] = {
        "benchmark": "sweeps", "quick": args.quick, "params": p, "machine": c.machine_info(),
        "ember_server_command": "python -m ember.cli.main server start --home <d> --port 0 "
                                + " ".join(server_args),
        "target_ratio": TARGET_RATIO,
        "ray_note": "ray.init() is measured separately (ray.ray_init_s) and excluded from "
                    "Ray's per-trial figure; Ray's wall = Tuner construction + fit().",
    }
    try:
        from ember.client.mlclient import MLClient

        result["bare_trial"] = bare_trial_cost(p["bare_runs"])
        if not args.skip_ray:
            # Ray first, alone on the machine (no Ember server yet).
            t0 = time.perf_counter()
            c.wait_quiet(20, 0.5)
            result["ray"] = run_ray(p, not args.no_ray_reuse_actors)
            print(f"  [ray] tune: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        with c.ember_server(settle=settle, extra_args=server_args) as srv, \
                tempfile.TemporaryDirectory(prefix="bench-sweeps-") as tmp:
            workdir = Path(tmp)
            (workdir / "src").mkdir()
            (workdir / "src/trial_mlflow.py").write_text(TRIAL_MLFLOW)
            (workdir / "src/trial_rest.py").write_text(TRIAL_REST)
            result["settled_s"] = srv.extra.get("settled_s")
            client = MLClient(endpoint=srv.url)
            try:   # warm-up: the first jobs pay cold caches (environment, code snapshot)
                run_ember_sweep(client, srv, workdir, "trial_mlflow.py", "warmup",
                                dict(p, trials=2))
            except Exception as exc:  # noqa: BLE001 - the measured sweep will report it too
                result["warmup_error"] = f"{exc.__class__.__name__}: {exc}"[:1000]
            tests = [("ember", "trial_mlflow.py", "sweep-mlflow")]
            if not args.skip_rest:
                tests.append(("ember_rest_trial", "trial_rest.py", "sweep-rest"))
            for key, script, name in tests:
                t0 = time.perf_counter()
                c.wait_quiet(20, 0.5)
                try:
                    result[key] = run_ember_sweep(client, srv, workdir, script, name, p)
                except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # noqa: BLE001 - record and continue
                    result[key] = {"error": f"{exc.__class__.__name__}: {exc}"[:2000],
                                   "traceback": traceback.format_exc()[-2000:]}
                print(f"  [ember] sweep {key}: {time.perf_counter() - t0:.1f}s",
                      file=sys.stderr)
            result["comparison"] = compare(result)
            missed = result["comparison"].get("met") is not True
            if args.profile == "all" or (args.profile == "missed" and missed):
                base = result.get("ember") or {}
                try:
                    result["profile"] = profile_sweep(client, srv, workdir, p,
                                                      float(base.get("wall_s") or 60))
                except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # noqa: BLE001
                    result["profile"] = {"error": f"{exc.__class__.__name__}: {exc}"[:2000]}
            client.close()
    except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a server that won't start is a result too
        result["error"] = f"{exc.__class__.__name__}: {exc}"[:3000]
        result["traceback"] = traceback.format_exc()[-2000:]
    result.setdefault("comparison", compare(result))
    c.write_json(args.out, result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=str).decode())
    return 0


def compare(result: dict[str, Any]) -> dict[str, Any]:
    """Ray per-trial ÷ Ember per-trial (higher is better for Ember); target >= 10."""
    ray_ms = (result.get("ray") or {}).get("per_trial_ms")
    out: dict[str, Any] = {"ray_per_trial_ms": ray_ms, "target_ratio": TARGET_RATIO}
    for key in ("ember", "ember_rest_trial"):
        e_ms = (result.get(key) or {}).get("per_trial_ms")
        out[f"{key}_per_trial_ms"] = e_ms
        ratio = round(ray_ms / e_ms, 3) if ray_ms and e_ms else None
        out[f"{key}_ratio_ray_over_ember"] = ratio
        if key == "ember":
            out["ratio_ray_over_ember"] = ratio
            out["met"] = None if ratio is None else ratio >= TARGET_RATIO
    return out


if __name__ == "__main__":
    try:
        sys.exit(main())
    except c.BenchTimeout as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(3)
