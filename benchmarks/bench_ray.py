"""Ember on a Ray compute vs Ray alone, on one owned loopback Ray cluster (2 CPUs).

1. **100 short jobs** (``echo hi``), all submitted at once, waited until all are terminal:

   a. *Ray direct*: 100 × ``JobSubmissionClient.submit_job(entrypoint="echo hi",
      entrypoint_num_cpus=1, runtime_env={"working_dir": W})`` where ``W`` holds copies of the
      two files Ember stages for a job without code (``.ember/runner.py``,
      ``.ember/_runner_procs.py``): the same working_dir size and the same runtime-env path
      (hash, ``package_exists``, one upload, per-node unpacking) as Ember's jobs; waited by
      polling ``list_jobs()``. Wall = first ``submit_job`` call -> the latest ``end_time``
      Ray recorded for the 100.
   b. *Ember*: a real ``ember server start`` subprocess with the cluster registered as compute
      ``ray`` (no ``resources``: Ember submits ``entrypoint_num_cpus=1``, like a.), 100 ×
      ``client.jobs.create_or_update(command(command="echo hi", compute="azureml:ray"))``,
      waited by listing the run's experiment. Wall = first POST -> the latest ``Completed``
      timestamp (the runner reports it just before it exits); the latest Ray ``end_time`` of
      those Ray jobs is reported too.

   Runs alternate a, b, b, a (``--rounds 2``) so the cluster's growing job history and other
   load on the shared machine hit both; after one warm-up batch of each (Ray's first upload of
   the working_dir, Ember's stage, worker start-up). Ember's overhead per job = (b − a) / N,
   as a percentage of Ray's own per-job time a / N, per pair and on the means. Target (issue
   17): ≤ 10 %.

2. **A 50-trial sweep**: trial function ``loss = (x - 0.3)**2 + 1/(step+1)`` for 3 steps,
   ``x ~ uniform(0, 1)``, random sampling, 2 trials at once (one per CPU).

   - *Ray Tune* in a child process: ``ray.init(address=<the cluster>)``, then ``tune.Tuner(fn,
     TuneConfig(num_samples=50, metric="loss", mode="min"))`` where ``fn`` calls
     ``tune.report`` 3 times. Wall = Tuner + ``fit()`` (``ray.init`` reported apart).
   - *Ember*: a ``type: sweep`` job, ``compute: azureml:ray``, ``sampling_algorithm: random``,
     ``limits: {max_total_trials: 50, max_concurrent_trials: 2}``, trial
     ``python trial.py ${{search_space.x}}`` logging the 3 steps with ``mlflow.log_metric``;
     and (informative) the same sweep whose trial posts the 3 steps to the MLflow REST API with
     the standard library (no ``import mlflow`` in each trial process). Wall = POST -> the
     sweep's ``Completed``.

With ``--profile missed`` (default) and the jobs target missed, another Ember batch runs under
``py-spy record`` of the server and the per-phase timestamps are reported.

Usage: python benchmarks/bench_ray.py [--quick] [--jobs N] [--trials N] [--rounds R]
                                      [--skip-jobs] [--skip-sweep] [--skip-rest]
                                      [--profile off|missed|all]
Writes bench-results/ray.json (or --out) and bench-results/ray.md, prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))   # tests.ray.cluster

import _common as c  # noqa: E402
from _common import describe, status_time  # noqa: E402

TERMINAL = {"Completed", "Failed", "Canceled", "NotResponding"}
TARGET_OVERHEAD_PCT = 10.0
NUM_CPUS = 2
COMMAND = "echo hi"

TRIAL_MLFLOW = """\
import sys
import mlflow
x = float(sys.argv[1])
for step in range(3):
    mlflow.log_metric("loss", (x - 0.3) ** 2 + 1.0 / (step + 1), step=step)
"""

TRIAL_REST = """\
import json, os, sys, time, urllib.request
x = float(sys.argv[1])
url = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/runs/log-metric"
headers = {"Content-Type": "application/json"}
if os.environ.get("MLFLOW_TRACKING_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
for step in range(3):
    body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss",
                       "value": (x - 0.3) ** 2 + 1.0 / (step + 1),
                       "timestamp": int(time.time() * 1000), "step": step}).encode()
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    urllib.request.urlopen(req, timeout=30).read()
"""


def params(quick: bool, jobs: int | None, trials: int | None,
           rounds: int | None) -> dict[str, Any]:
    return {"jobs": jobs or (8 if quick else 100), "trials": trials or (6 if quick else 50),
            "rounds": rounds or (1 if quick else 2), "warmup_jobs": 2 if quick else 4,
            "poll_s": 0.5, "num_cpus": NUM_CPUS, "entrypoint_num_cpus": 1,
            "concurrent_trials": NUM_CPUS, "profile_jobs": 8 if quick else 20,
            "batch_timeout_s": 300 if quick else 900, "sweep_timeout_s": 300 if quick else 900}


def ms(v: float) -> float:
    return round(v * 1000, 1)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def median_ms(vals: list[float]) -> float | None:
    return ms(c.median(vals)) if vals else None






class TreeCpu(threading.Thread):
    """CPU used by a process tree (the Ray cluster: raylet, dashboard, job supervisors, job
    processes), sampled every 0.2 s: Ray's raylet does not reap its workers into its own
    ``cutime``, so a job supervisor's CPU counts only while it is seen alive (each one lost at
    most 0.2 s of it). Independent of other people's load on the machine, unlike wall time."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.done = threading.Event()
        self._sample(initial=True)
        self.start()

    def _sample(self, initial: bool = False) -> None:
        for pid in [self.root, *c._descendants(self.root)]:
            ticks = c._cpu_ticks(pid)
            if initial:
                self.first[pid] = ticks
            elif pid not in self.first:
                self.first[pid] = 0
            self.last[pid] = max(ticks, self.last.get(pid, 0))
            if pid not in self.names:
                self.names[pid] = _short_name(c._cmdline(pid))

    def run(self) -> None:
        while not self.done.wait(0.2):
            self._sample()

    def stop(self) -> float:
        self.done.set()
        self.join()
        self._sample()
        return sum(v - self.first.get(p, 0) for p, v in self.last.items()) / os.sysconf(
            "SC_CLK_TCK")

    def by_name(self, n: int) -> dict[str, float]:
        """CPU ms per job by kind of process, largest first."""
        hz = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {}
        for pid, v in self.last.items():
            name = self.names.get(pid, "?")
            out[name] = out.get(name, 0.0) + (v - self.first.get(pid, 0)) / hz
        return {k: ms(v / n) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


def _short_name(cmdline: str) -> str:
    """'ray::JobSupervisor', 'raylet', 'dashboard JobHead', 'python -S .ember/runner.py', ..."""
    if not cmdline:
        return "?"
    first = cmdline.split()[0]
    if first.startswith("ray::") or first.startswith("ray-dashboard-"):
        return first.split("(")[0].strip()
    if "default_worker.py" in cmdline:
        return "ray worker (a job's supervisor)"
    for key in ("gcs_server", "raylet", "dashboard.py", "runtime_env/agent", "dashboard/agent",
                "log_monitor", "monitor.py", "ray.util.client.server", "ray start",
                ".ember/runner.py", "forkserver", "resource_tracker"):
        if key in cmdline:
            return key
    return " ".join(Path(w).name for w in cmdline.split()[:3])[:60]


CLUSTER_PID = 0   # the cluster's ``ray start --block`` process (set in main)


class Machine:
    """Busy CPU of the whole machine, of the Ray cluster's tree and of the Ember server's tree
    over one batch."""

    def __init__(self, server_pid: int | None) -> None:
        self.meter = c.CpuMeter([server_pid] if server_pid else [])
        self.busy0 = c._machine_busy_ticks()
        self.load0 = load()
        self.tree = TreeCpu(CLUSTER_PID) if CLUSTER_PID else None

    def read(self, n: int) -> dict[str, Any]:
        cluster_s = self.tree.stop() if self.tree else None
        r = self.meter.read()
        hz = os.sysconf("SC_CLK_TCK")
        busy = (c._machine_busy_ticks() - self.busy0) / hz
        out: dict[str, Any] = {"wall_s": r["wall_s"],
                               "machine_busy_cores": round(busy / r["wall_s"], 2),
                               "machine_cpu_ms_per_job": ms(busy / n),
                               "client_cpu_ms_per_job": ms(r["client_cores"] * r["wall_s"] / n),
                               "load_before": self.load0, "load_after": load()}
        if cluster_s is not None and self.tree is not None:
            out["ray_cluster_cpu_ms_per_job"] = ms(cluster_s / n)
            out["ray_cluster_cpu_ms_per_job_by_process"] = self.tree.by_name(n)
        if self.meter.roots:
            out["ember_server_cpu_ms_per_job"] = ms(r["server_cores"] * r["wall_s"] / n)
        return out


# ---------------------------------------------------------------------------------------------
# 1a. Ray direct


def runner_like_dir(root: Path) -> Path:
    """A working_dir of the size and shape of Ember's stage for a job without code."""
    from ember.engine.remote_workdir import RUNNER_FILES

    wd = root / "ray-direct-wd"
    (wd / ".ember").mkdir(parents=True, exist_ok=True)
    for path in RUNNER_FILES:
        shutil.copy2(path, wd / ".ember" / path.name)
    return wd


def ray_batch(rc: Any, tag: str, n: int, working_dir: Path, p: dict[str, Any],
              with_meter: bool = True) -> dict[str, Any]:
    ids = [f"bench-{tag}-{i:03d}" for i in range(n)]
    meter = Machine(None) if with_meter else None
    t0 = time.time()
    submit_s = []
    for sid in ids:
        ts = time.perf_counter()
        rc.submit_job(entrypoint=COMMAND, submission_id=sid, entrypoint_num_cpus=1,
                      runtime_env={"working_dir": str(working_dir)})
        submit_s.append(time.perf_counter() - ts)
    t_submitted = time.time()
    want = set(ids)
    deadline = time.monotonic() + p["batch_timeout_s"]
    while True:
        listed = {d.submission_id: d for d in rc.list_jobs() if d.submission_id in want}
        if len(listed) == n and all(d.status.is_terminal() for d in listed.values()):
            break
        if time.monotonic() > deadline:
            left = sum(1 for d in listed.values() if not d.status.is_terminal())
            raise TimeoutError(f"Ray direct {tag}: {left} jobs not ended after "
                               f"{p['batch_timeout_s']} s")
        time.sleep(p["poll_s"])
    t_seen = time.time()
    cpu = meter.read(n) if meter else None
    bad = [f"{d.submission_id}: {d.status.value} {d.message}"[:300]
           for d in listed.values() if str(d.status.value) != "SUCCEEDED"]
    end = max(d.end_time for d in listed.values()) / 1000
    wall = end - t0
    return {"tag": tag, "jobs": n, "failed": len(bad), "failures": bad[:3],
            "wall_s": round(wall, 3), "per_job_ms": ms(wall / n),
            "wall_client_observed_s": round(t_seen - t0, 3),
            "submit_all_s": round(t_submitted - t0, 3),
            "submit_call_ms_median": median_ms(submit_s),
            "job_start_to_end_ms_median": median_ms(
                [(d.end_time - d.start_time) / 1000 for d in listed.values()]),
            "_cpu": cpu}


# ---------------------------------------------------------------------------------------------
# 1b. Ember


def ember_wait(client: Any, exp: str, names: list[str], timeout: float,
               poll: float) -> None:
    want = set(names)
    deadline = time.monotonic() + timeout
    while True:
        jobs = client.jobs.list(experiment_name=exp, max_results=10_000)
        ended = [j for j in jobs if j.name in want and j.status in TERMINAL]
        if len(ended) == len(want):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Ember {exp}: {len(want) - len(ended)} jobs not ended after "
                               f"{timeout} s")
        time.sleep(poll)


def ember_batch(client: Any, rc: Any, srv: c.Server, tag: str, n: int,
                p: dict[str, Any]) -> dict[str, Any]:
    from ember import command

    exp = f"bench-ray-{tag}"
    meter = Machine(srv.pid)
    t0 = time.time()
    names, post_s = [], []
    for _ in range(n):
        ts = time.perf_counter()
        names.append(client.jobs.create_or_update(
            command(command=COMMAND, compute="azureml:ray"), experiment_name=exp).name)
        post_s.append(time.perf_counter() - ts)
    t_submitted = time.time()
    ember_wait(client, exp, names, p["batch_timeout_s"], p["poll_s"])
    t_seen = time.time()
    cpu = meter.read(n)
    jobs = [client.jobs.get(name) for name in names]
    bad = [describe(j)[:400] for j in jobs if j.status != "Completed"]
    completed = [status_time(j, "Completed", last=True) or t_seen for j in jobs]
    wall = max(completed) - t0
    # Ray's record of the same jobs (the runner exits after reporting Completed)
    ray_rec = {d.metadata.get("ember_job"): d for d in rc.list_jobs()
               if (d.metadata or {}).get("ember_job") in {j.name for j in jobs}}
    ray_end = max((d.end_time or 0) for d in ray_rec.values()) / 1000 if ray_rec else None

    def span(a: str, b: str) -> float | None:
        vals = [tb - ta for j in jobs if (ta := status_time(j, a)) is not None
                and (tb := status_time(j, b, last=True)) is not None]
        return median_ms(vals)

    completed_to_ray_end = [d.end_time / 1000 - (status_time(ray_j, "Completed", last=True) or 0)
                            for name, d in ray_rec.items()
                            if (ray_j := next((j for j in jobs if j.name == name), None))
                            is not None and d.end_time]
    starting_to_ray_start = [d.start_time / 1000 - (status_time(ray_j, "Starting") or 0)
                             for name, d in ray_rec.items()
                             if (ray_j := next((j for j in jobs if j.name == name), None))
                             is not None and d.start_time]
    return {
        "tag": tag, "jobs": n, "failed": len(bad), "failures": bad[:3],
        "wall_s": round(wall, 3), "per_job_ms": ms(wall / n),
        "wall_to_last_ray_end_s": round(ray_end - t0, 3) if ray_end else None,
        "wall_client_observed_s": round(t_seen - t0, 3),
        "submit_all_s": round(t_submitted - t0, 3),
        "post_call_ms_median": median_ms(post_s),
        "phases_ms_median": {
            "Queued_to_Preparing": span("Queued", "Preparing"),
            "Preparing_to_Starting (stage, runner config)": span("Preparing", "Starting"),
            "Starting_to_Ray_submitted": median_ms(starting_to_ray_start),
            "Starting_to_Running (Ray submit + queue for a CPU + runner start)":
                span("Starting", "Running"),
            "Running_to_Completed (the command + the runner's reports)":
                span("Running", "Completed"),
            "Completed_to_Ray_end (runner exit + Ray's supervisor)":
                median_ms(completed_to_ray_end),
            "Queued_to_Completed": span("Queued", "Completed"),
        },
        "ray_jobs_found": len(ray_rec),
        "_cpu": cpu,
    }


def register_compute(client: Any, address: str) -> None:
    from ember.client.compute import Compute

    client.compute.begin_create_or_update(Compute(name="ray", type="ray",
                                                  address=address)).result()


def overhead(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    pa, pb = a.get("per_job_ms"), b.get("per_job_ms")
    if not pa or not pb:
        return {"pct": None}
    return {"ray_per_job_ms": pa, "ember_per_job_ms": pb,
            "overhead_per_job_ms": round(pb - pa, 1),
            "pct": round(100.0 * (pb - pa) / pa, 1)}


def run_jobs(rc: Any, client: Any, srv: c.Server, wd: Path, p: dict[str, Any],
             result: dict[str, Any]) -> None:
    n = p["jobs"]
    # warm-ups: Ray's first upload of the working_dir, Ember's stage, worker processes
    result["warmup"] = {"ray": ray_batch(rc, "warm", p["warmup_jobs"], wd, p, False),
                        "ember": ember_batch(client, rc, srv, "warm", p["warmup_jobs"], p)}
    order = []
    for r in range(p["rounds"]):
        order += [("ray", f"a{r + 1}"), ("ember", f"b{r + 1}")] if r % 2 == 0 else \
                 [("ember", f"b{r + 1}"), ("ray", f"a{r + 1}")]
    runs: list[dict[str, Any]] = []
    for kind, tag in order:
        c.wait_quiet(20, 0.3)
        t = time.perf_counter()
        try:
            run = (ray_batch(rc, tag, n, wd, p) if kind == "ray"
                   else ember_batch(client, rc, srv, tag, n, p))
        except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - record and go on
            run = {"tag": tag, "error": f"{exc.__class__.__name__}: {exc}"[:2000],
                   "traceback": traceback.format_exc()[-2000:]}
        run["kind"] = kind
        runs.append(run)
        print(f"  [{kind}] {tag}: {n} jobs {run.get('wall_s')} s "
              f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    result["runs"] = runs
    ray_runs = [r for r in runs if r["kind"] == "ray" and r.get("per_job_ms")]
    ember_runs = [r for r in runs if r["kind"] == "ember" and r.get("per_job_ms")]
    pairs = [overhead(a, b) for a, b in zip(ray_runs, ember_runs)]

    def mean(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"per_job_ms": round(sum(r["per_job_ms"] for r in rs) / len(rs), 1)} if rs \
            else {}

    total = overhead(mean(ray_runs), mean(ember_runs))

    def cpu_ms(r: dict[str, Any], key: str) -> float:
        return float((r.get("_cpu") or {}).get(key) or 0.0)

    cpu_pairs = []
    for a, b in zip(ray_runs, ember_runs):
        ra, rb = cpu_ms(a, "ray_cluster_cpu_ms_per_job"), cpu_ms(b, "ray_cluster_cpu_ms_per_job")
        sb = cpu_ms(b, "ember_server_cpu_ms_per_job")
        cpu_pairs.append({"ray_cluster_ms": ra, "ember_cluster_ms": rb, "ember_server_ms": sb,
                          "pct": round(100.0 * (rb + sb - ra) / ra, 1) if ra else None})
    result["jobs_comparison"] = {"pairs": pairs, "mean": total, "cpu_pairs": cpu_pairs,
                                 "target_pct": TARGET_OVERHEAD_PCT,
                                 "met": None if total["pct"] is None
                                 else total["pct"] <= TARGET_OVERHEAD_PCT}


def profile_jobs(client: Any, rc: Any, srv: c.Server, p: dict[str, Any],
                 expect_per_job_s: float) -> dict[str, Any]:
    from bench_pipelines import ember_inclusive

    n = p["profile_jobs"]
    duration = int(min(max(expect_per_job_s * n * 1.2 + 5, 10), 200))
    svg = c.RESULTS / "profile-ember-ray-jobs.svg"
    with c.py_spy(srv.pid, svg, duration=duration, rate=100) as prof:
        run = ember_batch(client, rc, srv, "prof", n, p)
    prof["batch_under_profiler"] = {k: run.get(k) for k in ("jobs", "wall_s", "per_job_ms",
                                                            "failed")}
    raw = Path(str(prof.get("raw", "")))
    if raw.is_file():
        prof["ember_inclusive"] = ember_inclusive(raw)
        prof["busy_by_part"] = busy_by_part(raw)
    return prof


PARTS = (("RayJobs._poll", "the Ray poller (list_jobs every 0.5 s, ray_jobs.py)"),
         ("RayJobs.submit", "submitting to Ray (ray_jobs.py submit)"),
         ("RemotePreparer.prepare", "preparing a job (remote_workdir.py)"),
         ("list_jobs (ember/server/routes/jobs", "GET jobs (this benchmark's wait loop)"),
         ("create_job", "POST a job"),
         ("runner_status", "the runner's status reports"),
         ("runner_logs", "the runner's log chunks"),
         ("Scheduler.", "scheduler"),
         ("Runner.run (asyncio", "HTTP server (event loop, middleware)"),
         ("UnexpectedErrors.__call__", "HTTP server (event loop, middleware)"))


def busy_by_part(raw: Path) -> list[str]:
    """Busy (non-idle) samples of the server by what they were doing, from py-spy's raw
    stacks: the first matching part of each stack, innermost Ember frame otherwise."""
    idle = ("wait (threading", "select (selectors", "_worker (concurrent", "accept (socket",
            "poll (selectors", "EpollSelector", "Event.wait", "Condition.wait", "sleep")
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, cnt = line.rpartition(" ")
        try:
            k = int(cnt)
        except ValueError:
            continue
        frames = stack.split(";")
        if any(m in frames[-1] for m in idle):
            continue
        total += k
        part = next((label for key, label in PARTS if any(key in f for f in frames)), None)
        if part is None:
            part = next((f.split(" (")[0] for f in reversed(frames) if "ember/" in f), "other")
        counts[part] = counts.get(part, 0) + k
    return [f"{100.0 * v / total:5.1f}%  {name}"
            for name, v in sorted(counts.items(), key=lambda kv: -kv[1])[:10]] if total else []


# ---------------------------------------------------------------------------------------------
# 2. sweeps


def tune_child(out: Path, gcs: str, n: int, tmp: Path) -> None:
    result: dict[str, Any] = {}
    try:
        import ray
        from ray import tune

        result["ray_version"] = ray.__version__
        t0 = time.perf_counter()
        ray.init(address=gcs, log_to_driver=False, configure_logging=False)
        result["ray_init_s"] = round(time.perf_counter() - t0, 3)

        def trial(config: dict[str, float]) -> None:
            x = config["x"]
            for step in range(3):
                tune.report({"loss": (x - 0.3) ** 2 + 1.0 / (step + 1)})

        t1 = time.perf_counter()
        tuner = tune.Tuner(trial, param_space={"x": tune.uniform(0, 1)},
                           tune_config=tune.TuneConfig(num_samples=n, metric="loss", mode="min"),
                           run_config=tune.RunConfig(storage_path=str(tmp / "results"),
                                                     name="bench", verbose=0))
        grid = tuner.fit()
        wall = time.perf_counter() - t1
        best = grid.get_best_result()
        result.update({"fit_wall_s": round(wall, 3), "trials": len(grid),
                       "trials_errored": grid.num_errors, "per_trial_ms": ms(wall / n),
                       "best_loss": best.metrics.get("loss") if best.metrics else None,
                       "best_x": best.config.get("x") if best.config else None})
        ray.shutdown()
    except Exception as exc:  # noqa: BLE001 - report it
        result["error"] = f"{exc.__class__.__name__}: {exc}"[:2000]
        result["traceback"] = traceback.format_exc()[-3000:]
    out.write_text(json.dumps(result, default=str))


def run_tune(gcs: str, p: dict[str, Any]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-tune-"))
    out = tmp / "result.json"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONWARNINGS": "ignore",
           "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1", "OMP_NUM_THREADS": "1"}
    log_path = tmp / "tune.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--tune-child", str(out),
           "--gcs", gcs, "--trials", str(p["trials"]), "--tune-tmp", str(tmp)]
    meter = Machine(None)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = c._spawn(cmd, log_path, env=env)
    try:
        try:
            proc.wait(timeout=p["sweep_timeout_s"])
        except subprocess.TimeoutExpired:
            return {"error": f"Ray Tune did not finish in {p['sweep_timeout_s']} s",
                    "log_tail": log_path.read_text(errors="replace")[-2000:]}
        cpu = meter.read(p["trials"])
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["tune_driver_cpu_ms_per_job"] = ms((ru1.ru_utime + ru1.ru_stime - ru0.ru_utime
                                                - ru0.ru_stime) / p["trials"])
        if not out.exists():
            return {"error": f"the Tune process exited {proc.returncode} without a result",
                    "log_tail": log_path.read_text(errors="replace")[-2000:]}
        res: dict[str, Any] = json.loads(out.read_text())
        cpu["note"] = "whole child process (import, ray.init, fit, shutdown)"
        res["_cpu"] = cpu
        return res
    finally:
        c.stop_process_group(proc, grace=10)
        shutil.rmtree(tmp, ignore_errors=True)


def sweep_yaml(n: int, script: str, name: str) -> str:
    return f"""\
type: sweep
experiment_name: bench-ray-sweep
display_name: {name}
compute: azureml:ray
trial:
  code: ./src
  command: python {script} ${{{{search_space.x}}}}
search_space:
  x: {{type: uniform, min_value: 0, max_value: 1}}
sampling_algorithm: random
objective: {{primary_metric: loss, goal: minimize}}
limits: {{max_total_trials: {n}, max_concurrent_trials: {NUM_CPUS}}}
"""


def run_ember_sweep(client: Any, srv: c.Server, workdir: Path, script: str, name: str,
                    p: dict[str, Any]) -> dict[str, Any]:
    from ember.specs.any_job import load_any_job_spec

    n = p["trials"]
    spec = workdir / f"{name}.yml"
    spec.write_text(sweep_yaml(n, script, name))
    meter = Machine(srv.pid)
    t_post = time.time()
    job = client.jobs.create_or_update(load_any_job_spec(spec))
    job = c.wait_job_ended(client, job.name, terminal=TERMINAL, timeout_s=p["sweep_timeout_s"],
                           poll_s=p["poll_s"], what="sweep")
    t_seen = time.time()
    cpu = meter.read(n)
    trials = list(client.jobs.list(parent_job_name=job.name, max_results=10_000))
    if job.status != "Completed":
        bad = [describe(t) for t in trials if t.status != "Completed"][:3]
        raise RuntimeError(f"sweep ended {job.status}: {getattr(job, 'error', None)!r}; {bad}")
    done = [t for t in trials if t.status == "Completed"]
    wall = (status_time(job, "Completed", last=True) or t_seen) - t_post
    full = [client.jobs.get(t.name) for t in done]

    def span(a: str, b: str) -> float | None:
        return median_ms([tb - ta for t in full if (ta := status_time(t, a)) is not None
                          and (tb := status_time(t, b, last=True)) is not None])

    return {"sweep": job.name, "trials": len(trials), "trials_completed": len(done),
            "wall_s": round(wall, 3), "per_trial_ms": ms(wall / n),
            "wall_client_observed_s": round(t_seen - t_post, 3),
            "best_objective": (job.properties or {}).get("best_objective"),
            "trial_phases_ms_median": {
                "Queued_to_Starting": span("Queued", "Starting"),
                "Starting_to_Running": span("Starting", "Running"),
                "Running_to_Completed (python, imports, 3 reports)": span("Running",
                                                                          "Completed")},
            "_cpu": cpu}


def run_sweeps(cluster: Any, client: Any, srv: c.Server, p: dict[str, Any],
               result: dict[str, Any], skip_rest: bool) -> None:
    sw: dict[str, Any] = {}
    result["sweep"] = sw
    c.wait_quiet(20, 0.3)
    t = time.perf_counter()
    sw["tune"] = run_tune(cluster.gcs_address, p)
    print(f"  [tune] {p['trials']} trials: {sw['tune'].get('fit_wall_s')} s "
          f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-ray-sweep-") as tmp:
        workdir = Path(tmp)
        (workdir / "src").mkdir()
        (workdir / "src/trial_mlflow.py").write_text(TRIAL_MLFLOW)
        (workdir / "src/trial_rest.py").write_text(TRIAL_REST)
        tests = [("ember", "trial_mlflow.py")] + ([] if skip_rest else
                                                  [("ember_rest", "trial_rest.py")])
        for key, script in tests:
            c.wait_quiet(20, 0.3)
            t = time.perf_counter()
            try:
                sw[key] = run_ember_sweep(client, srv, workdir, script, f"sweep-{key}", p)
            except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - record and go on
                sw[key] = {"error": f"{exc.__class__.__name__}: {exc}"[:2000],
                           "traceback": traceback.format_exc()[-2000:]}
            print(f"  [ember] sweep {key}: {sw[key].get('wall_s')} s "
                  f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    tm = sw["tune"].get("per_trial_ms")
    comp: dict[str, Any] = {"tune_per_trial_ms": tm}
    for key in ("ember", "ember_rest"):
        em = (sw.get(key) or {}).get("per_trial_ms")
        comp[f"{key}_per_trial_ms"] = em
        comp[f"{key}_over_tune"] = round(em / tm, 2) if em and tm else None
    sw["comparison"] = comp


# ---------------------------------------------------------------------------------------------
# report


def markdown(r: dict[str, Any]) -> str:
    m = r.get("machine") or {}
    p = r.get("params") or {}
    out = ["### Ember on a Ray compute vs Ray alone" + (" (quick run)" if r.get("quick") else ""),
           "",
           f"- {m.get('date_utc')}; {m.get('nproc')} CPUs ({m.get('cpu')}), ray "
           f"{r.get('ray_version')}, ember {m.get('ember')}; one owned loopback cluster, "
           f"`ray start --head --num-cpus={p.get('num_cpus')}` (tests/ray/cluster.py); the Ember "
           "server a subprocess (`ember server start`), compute `ray` = the cluster's job URL.",
           f"- Load average (1/5/15 min) before: {r.get('load_before')}, after: "
           f"{r.get('load_after')} (the machine is shared).",
           "- Reproduce: `python benchmarks/bench_ray.py` (see benchmarks/README.md).", ""]
    if r.get("error"):
        out += [f"**Failed:** {r['error'][:800]}", ""]
    if "runs" in r:
        n = p.get("jobs")
        out += [f"#### {n} short jobs (`{COMMAND}`), all submitted at once", "",
                "Ray direct: `submit_job(entrypoint='echo hi', entrypoint_num_cpus=1, "
                "runtime_env={'working_dir': W})`, W = copies of the two runner files Ember "
                "stages for a job without code (same size, same runtime-env path); waited by "
                "polling `list_jobs()`; wall = first submit → latest Ray `end_time`. Ember: "
                "`jobs.create_or_update(command(command='echo hi', compute='azureml:ray'))` "
                "× N (Ember submits the same `entrypoint_num_cpus=1`, its runner as the "
                "entrypoint); wall = first POST → latest `Completed`. Order as listed, after a "
                "warm-up batch of each.", "",
                "| Run | Wall | Per job | Ember: to last Ray end | CPU/job: Ray cluster | "
                "CPU/job: Ember server | CPU/job: whole machine | Failed |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for run in r["runs"]:
            cpu = run.get("_cpu") or {}
            label = ("Ray direct" if run["kind"] == "ray" else "Ember") + f" ({run['tag']})"
            if run.get("error"):
                out.append(f"| {label} | error: {run['error'][:200]} | | | | | | |")
                continue
            out.append(f"| {label} | {run['wall_s']} s | {run['per_job_ms']} ms | "
                       f"{run.get('wall_to_last_ray_end_s') or '—'}"
                       f"{' s' if run.get('wall_to_last_ray_end_s') else ''} | "
                       f"{cpu.get('ray_cluster_cpu_ms_per_job')} ms | "
                       f"{cpu.get('ember_server_cpu_ms_per_job', '—')}"
                       f"{' ms' if 'ember_server_cpu_ms_per_job' in cpu else ''} | "
                       f"{cpu.get('machine_cpu_ms_per_job')} ms | {run.get('failed')} |")
        jc = r.get("jobs_comparison") or {}
        out.append("")
        for i, pair in enumerate(jc.get("pairs") or []):
            out.append(f"- Pair {i + 1}: Ray {pair.get('ray_per_job_ms')} ms/job, Ember "
                       f"{pair.get('ember_per_job_ms')} ms/job → overhead "
                       f"{pair.get('overhead_per_job_ms')} ms/job = **{pair.get('pct')} %** of "
                       "Ray's own.")
        mean = jc.get("mean") or {}
        met = jc.get("met")
        out.append(f"- Mean: overhead {mean.get('overhead_per_job_ms')} ms/job = "
                   f"**{mean.get('pct')} %** of Ray's {mean.get('ray_per_job_ms')} ms/job; "
                   f"target ≤ {TARGET_OVERHEAD_PCT:g} %: "
                   f"**{'met' if met else 'missed' if met is False else 'n/a'}**.")
        for i, pair in enumerate(jc.get("cpu_pairs") or []):
            out.append(f"- CPU view, pair {i + 1} (not moved by other people's load): Ray's "
                       f"cluster used {pair.get('ray_cluster_ms')} ms/job for Ray direct; for "
                       f"Ember {pair.get('ember_cluster_ms')} ms/job in the cluster (Ember's "
                       f"runner included) + {pair.get('ember_server_ms')} ms/job in the Ember "
                       f"server → **{pair.get('pct')} %** more CPU per job.")
        out += by_process_lines(r["runs"])
        eb = next((x for x in r["runs"] if x["kind"] == "ember" and x.get("phases_ms_median")),
                  None)
        if eb:
            ph = "; ".join(f"{k} {v} ms" for k, v in eb["phases_ms_median"].items()
                           if v is not None)
            out.append(f"- Ember job phases, medians ({eb['tag']}): {ph}. POST call median "
                       f"{eb.get('post_call_ms_median')} ms; all {n} POSTs took "
                       f"{eb.get('submit_all_s')} s.")
        rb = next((x for x in r["runs"] if x["kind"] == "ray" and x.get("submit_call_ms_median")),
                  None)
        if rb:
            out.append(f"- Ray direct ({rb['tag']}): `submit_job` median "
                       f"{rb['submit_call_ms_median']} ms, all {n} in {rb['submit_all_s']} s; a "
                       f"job's Ray start → end median {rb['job_start_to_end_ms_median']} ms "
                       "(includes waiting for a CPU).")
        out.append("")
    prof = r.get("profile")
    if prof:
        out += profile_lines(prof)
    sw = r.get("sweep")
    if sw:
        n = p.get("trials")
        tu, em, er = sw.get("tune") or {}, sw.get("ember") or {}, sw.get("ember_rest") or {}
        comp = sw.get("comparison") or {}
        out += [f"#### {n}-trial sweep, 2 at a time (one per CPU)", "",
                "Trial: `loss = (x-0.3)**2 + 1/(step+1)` reported for 3 steps, "
                "`x ~ uniform(0, 1)`, random sampling. Tune: `tune.Tuner(fn, "
                f"TuneConfig(num_samples={n}, metric='loss', mode='min'))` with "
                "`ray.init(address=<the cluster>)` in a child process (`ray.init` excluded); "
                "Ember: `type: sweep`, `compute: azureml:ray`, `sampling_algorithm: random`, "
                f"`max_total_trials: {n}`, `max_concurrent_trials: 2`; each trial is a Ray job "
                "running `python trial.py <x>`.", "",
                "| | Wall | Per trial | ÷ Tune | Trials ok | CPU/trial: Ray cluster | "
                "CPU/trial: Tune driver or Ember server | CPU/trial: whole machine |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]

        def row(label: str, d: dict[str, Any], wall_key: str, ratio: Any) -> str:
            if d.get("error"):
                return f"| {label} | error: {d['error'][:200]} | | | | | | |"
            ok = (d.get("trials", 0) - d.get("trials_errored", 0)) if "trials_errored" in d \
                else d.get("trials_completed")
            cpu = d.get("_cpu") or {}
            side = cpu.get("tune_driver_cpu_ms_per_job", cpu.get("ember_server_cpu_ms_per_job"))
            return (f"| {label} | {d.get(wall_key)} s | {d.get('per_trial_ms')} ms | "
                    f"{ratio if ratio is not None else '—'}{'×' if ratio else ''} | {ok} | "
                    f"{cpu.get('ray_cluster_cpu_ms_per_job')} ms | {side} ms | "
                    f"{cpu.get('machine_cpu_ms_per_job')} ms |")

        out.append(row("Ray Tune", tu, "fit_wall_s", 1.0 if tu.get("per_trial_ms") else None))
        out.append(row("Ember, trial logs with `mlflow`", em, "wall_s",
                       comp.get("ember_over_tune")))
        if er:
            out.append(row("Ember, trial logs over REST (stdlib)", er, "wall_s",
                           comp.get("ember_rest_over_tune")))
        out.append("")
        if tu.get("ray_init_s") is not None:
            out.append(f"- Tune's `ray.init(address=…)`: {tu['ray_init_s']} s (excluded); best "
                       f"loss {tu.get('best_loss')}.")
        for label, d in (("mlflow", em), ("REST", er)):
            if d.get("trial_phases_ms_median"):
                ph = "; ".join(f"{k} {v} ms" for k, v in d["trial_phases_ms_median"].items())
                out.append(f"- Ember ({label}) trial phases, medians: {ph}; best "
                           f"{d.get('best_objective')}.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def by_process_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Ray cluster CPU per job by kind of process: mean of the Ray direct runs vs the Ember
    runs, largest differences first."""
    def mean(kind: str) -> dict[str, float]:
        rows = [(x.get("_cpu") or {}).get("ray_cluster_cpu_ms_per_job_by_process") or {}
                for x in runs if x.get("kind") == kind and not x.get("error")]
        names = {k for row in rows for k in row}
        return {k: sum(row.get(k, 0.0) for row in rows) / len(rows) for k in names} if rows \
            else {}

    a, b = mean("ray"), mean("ember")
    if not a or not b:
        return []
    diff = sorted(((b.get(k, 0.0) - a.get(k, 0.0), k) for k in set(a) | set(b)), reverse=True)
    out = ["", "Ray cluster CPU per job by process (mean of the runs of each kind):", "",
           "| Process | Ray direct | Ember | Ember − Ray |", "|---|---:|---:|---:|"]
    for d, k in diff[:7]:
        out.append(f"| {k} | {a.get(k, 0.0):.0f} ms | {b.get(k, 0.0):.0f} ms | {d:+.0f} ms |")
    out.append("")
    return out


def profile_lines(prof: dict[str, Any]) -> list[str]:
    out = ["#### Profile of the Ember server during another Ember batch", ""]
    if prof.get("error") or prof.get("skipped"):
        return out + [f"Not available: {prof.get('error') or prof.get('skipped')}", ""]
    b = prof.get("batch_under_profiler") or {}
    out.append(f"py-spy record of the server, {b.get('jobs')} jobs, {b.get('wall_s')} s "
               f"({b.get('per_job_ms')} ms/job under the profiler); {prof.get('samples')} "
               f"samples, {prof.get('idle_wait_pct')} % idle waits. Flamegraph: "
               f"`{prof.get('svg')}`.")
    out += ["", "Busy samples by what the server was doing:", "", "```",
            *(prof.get("busy_by_part") or []), "```", "",
            "Ember functions by inclusive samples:", "", "```",
            *(prof.get("ember_inclusive") or [])[:15], "```", ""]
    return out


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 jobs, 6 trials, 1 round")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None,
                    help="Ray/Ember pairs, order alternating (default 2: a b b a)")
    ap.add_argument("--skip-jobs", action="store_true")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-rest", action="store_true",
                    help="skip the informative sweep whose trial logs without mlflow")
    ap.add_argument("--profile", choices=("off", "missed", "all"), default="missed")
    ap.add_argument("--out", type=Path, default=c.RESULTS / "ray.json")
    ap.add_argument("--deadline", type=int, default=None, help="overall timeout in seconds")
    ap.add_argument("--report-only", action="store_true",
                    help="only rebuild the markdown from the JSON file (--out)")
    ap.add_argument("--tune-child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tune-tmp", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--gcs", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    global CLUSTER_PID
    p = params(args.quick, args.jobs, args.trials, args.rounds)
    if args.tune_child is not None:
        tune_child(args.tune_child, args.gcs, p["trials"], args.tune_tmp)
        return 0
    if args.report_only:
        saved = json.loads(args.out.read_text())
        raw = Path(str((saved.get("profile") or {}).get("raw", "")))
        if raw.is_file():
            saved["profile"]["busy_by_part"] = busy_by_part(raw)
        md = markdown(saved)
        args.out.with_suffix(".md").write_text(md)
        print(md)
        return 0
    c.install_deadline(args.deadline or (1200 if args.quick else 3000))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result: dict[str, Any] = {"benchmark": "ray", "quick": args.quick, "params": p,
                              "machine": c.machine_info(), "load_before": load()}
    cluster = None
    try:
        import ray

        from ember import MLClient
        from tests.ray.cluster import start_cluster

        result["ray_version"] = ray.__version__
        t = time.perf_counter()
        cluster = start_cluster(num_cpus=NUM_CPUS)
        CLUSTER_PID = cluster.procs[0].pid
        result["cluster_start_s"] = round(time.perf_counter() - t, 1)
        rc = cluster.client()
        with c.ember_server(settle=1.0 if args.quick else 3.0) as srv, \
                tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            client = MLClient(endpoint=srv.url,
                              token=(srv.workdir / "owner.token").read_text().strip())
            register_compute(client, cluster.address)
            wd = runner_like_dir(Path(tmp))
            if not args.skip_jobs:
                run_jobs(rc, client, srv, wd, p, result)
                met = (result.get("jobs_comparison") or {}).get("met")
                if args.profile == "all" or (args.profile == "missed" and met is False):
                    per = ((result["jobs_comparison"].get("mean") or {}).get("ember_per_job_ms")
                           or 1000) / 1000
                    try:
                        result["profile"] = profile_jobs(client, rc, srv, p, per)
                    except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as exc:  # noqa: BLE001
                        result["profile"] = {"error": f"{exc.__class__.__name__}: {exc}"[:1000]}
            if not args.skip_sweep:
                run_sweeps(cluster, client, srv, p, result, args.skip_rest)
            client.close()
    except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a cluster that won't start is a result too
        result["error"] = f"{exc.__class__.__name__}: {exc}"[:3000]
        result["traceback"] = traceback.format_exc()[-3000:]
    finally:
        if cluster is not None:
            cluster.stop()
        result["load_after"] = load()
        c.write_json(args.out, result)
        md = markdown(result)
        args.out.with_suffix(".md").write_text(md)
        print(md)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except c.BenchTimeout as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(3)
