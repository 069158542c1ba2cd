"""MLflow tracking throughput: Ember's workspace server vs ``mlflow server``, in one run.

Both servers are started fresh (each with its own temp folder and SQLite DB) and run side by
side; the same client code runs against both, test by test, alternating which server goes first,
for several rounds (each test keeps its best round; the machine may be shared):

  a. ``MlflowClient.log_batch`` of 1000 metrics, N calls, two shapes: one key over 1000
     consecutive steps, and 1000 distinct keys at one step            -> calls/s
  b. the same log-batch requests as JSON bodies built in advance, POSTed over one keep-alive
     ``httpx.Client`` connection (server cost alone, no client-side entity building) -> calls/s
  c. sequential ``MlflowClient.log_metric`` calls, and the same as raw keep-alive POSTs of
     ``runs/log-metric``                                               -> calls/s, p50/p95
  d. a 100k-point history of one key (loaded in 100 batches): ``MlflowClient.get_metric_history``
     (the client pages 25 000 at a time) and one raw
     ``GET metrics/get-history?max_results=100000``                    -> median seconds

Usage: python benchmarks/bench_tracking.py [--quick] [--mlflow-workers 1] [--also-default-workers]
Writes bench-results/tracking.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Fail fast instead of the client's 7 retries with backoff; a benchmark should not hide errors.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
# No usage telemetry from the client or the mlflow server (inherits this environment): it would
# add background work to one side only and there's no network here anyway.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import httpx  # noqa: E402
import orjson  # noqa: E402

import _common as c  # noqa: E402

TIMESTAMP = 1_700_000_000_000


# ---------------------------------------------------------------------------------------------
# parameters


def params(quick: bool) -> dict[str, int]:
    if quick:
        return {"batch_calls": 5, "single_calls": 50, "history_points": 10_000,
                "history_repeats": 1, "health_calls": 50, "warmup": 1}
    return {"batch_calls": 50, "single_calls": 500, "history_points": 100_000,
            "history_repeats": 3, "health_calls": 500, "warmup": 3}


# ---------------------------------------------------------------------------------------------
# helpers


def auth_headers(server: c.Server) -> dict[str, str]:
    """An Ember server's owner token (what its local users send); none for mlflow server or
    an Ember server started with --no-auth."""
    path = server.workdir / "owner.token"
    return {"Authorization": f"Bearer {path.read_text().strip()}"} if path.exists() else {}


def mlflow_routes_available(server: c.Server) -> tuple[bool, str]:
    """True when the server answers the MLflow protocol (a JSON error or an experiment)."""
    url = f"{server.mlflow_api}/experiments/get-by-name"
    try:
        r = httpx.get(url, params={"experiment_name": f"probe-{uuid.uuid4().hex}"}, timeout=10,
                      headers=auth_headers(server))
    except httpx.HTTPError as exc:
        return False, f"probe failed: {exc!r}"
    try:
        body = r.json()
    except ValueError:
        return False, f"HTTP {r.status_code}, non-JSON body {r.text[:80]!r}"
    if r.status_code == 404 and body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
        return True, "ok"
    if r.status_code == 200 and "experiment" in body:
        return True, "ok"
    return False, f"HTTP {r.status_code} {str(body)[:120]}"


def batch_metrics_one_key(call: int) -> list[tuple[str, float, int, int]]:
    base = call * 1000
    return [("loss", 1.0 / (base + j + 1), TIMESTAMP + base + j, base + j) for j in range(1000)]


def batch_metrics_many_keys(call: int) -> list[tuple[str, float, int, int]]:
    return [(f"m{j:04d}", float(j) + call * 0.001, TIMESTAMP + call, call) for j in range(1000)]


SHAPES = {"one_key_1000_steps": batch_metrics_one_key,
          "1000_keys_one_step": batch_metrics_many_keys}


def batch_body(run_id: str, metrics: list[tuple[str, float, int, int]]) -> bytes:
    return orjson.dumps({"run_id": run_id, "metrics": [
        {"key": k, "value": v, "timestamp": t, "step": s} for k, v, t, s in metrics]})


def check(r: httpx.Response) -> None:
    if r.status_code != 200:
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:300]}")


def new_run(client: Any, exp_id: str, name: str) -> str:
    return str(client.create_run(exp_id, run_name=name).info.run_id)


# ---------------------------------------------------------------------------------------------
# the tests


def test_client_log_batch(client: Any, exp_id: str, p: dict[str, int]) -> dict[str, Any]:
    from mlflow.entities import Metric

    out: dict[str, Any] = {}
    for shape, make in SHAPES.items():
        run_id = new_run(client, exp_id, f"client-batch-{shape}")
        n, warm = p["batch_calls"], p["warmup"]
        batches = [[Metric(k, v, t, s) for k, v, t, s in make(i)] for i in range(n + warm)]
        for i in range(warm):
            client.log_batch(run_id, metrics=batches[i])
        lat = []
        cpu0 = c.process_cpu()
        t0 = time.perf_counter()
        for i in range(warm, warm + n):
            s = time.perf_counter()
            client.log_batch(run_id, metrics=batches[i])
            lat.append(time.perf_counter() - s)
        out[shape] = c.latency_summary(lat, time.perf_counter() - t0)
        out[shape]["client_cpu_ms_per_call"] = round((c.process_cpu() - cpu0) * 1000 / n, 2)
    return out


def test_raw_log_batch(http: httpx.Client, api: str, client: Any, exp_id: str,
                       p: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for shape, make in SHAPES.items():
        run_id = new_run(client, exp_id, f"raw-batch-{shape}")
        n, warm = p["batch_calls"], p["warmup"]
        bodies = [batch_body(run_id, make(i)) for i in range(n + warm)]
        url = f"{api}/runs/log-batch"
        headers = {"Content-Type": "application/json"}
        for i in range(warm):
            check(http.post(url, content=bodies[i], headers=headers))
        lat = []
        t0 = time.perf_counter()
        for i in range(warm, warm + n):
            s = time.perf_counter()
            check(http.post(url, content=bodies[i], headers=headers))
            lat.append(time.perf_counter() - s)
        out[shape] = c.latency_summary(lat, time.perf_counter() - t0)
        out[shape]["body_bytes"] = len(bodies[-1])
    return out


def test_single_log_metric(client: Any, http: httpx.Client, api: str, exp_id: str,
                           p: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    n, warm = p["single_calls"], p["warmup"] * 5
    run_id = new_run(client, exp_id, "client-single")
    for i in range(warm):
        client.log_metric(run_id, "acc", 0.1, step=i)
    lat = []
    cpu0 = c.process_cpu()
    t0 = time.perf_counter()
    for i in range(warm, warm + n):
        s = time.perf_counter()
        client.log_metric(run_id, "acc", 0.1, step=i)
        lat.append(time.perf_counter() - s)
    out["client"] = c.latency_summary(lat, time.perf_counter() - t0)
    out["client"]["client_cpu_ms_per_call"] = round((c.process_cpu() - cpu0) * 1000 / n, 3)

    run_id = new_run(client, exp_id, "raw-single")
    bodies = [orjson.dumps({"run_id": run_id, "run_uuid": run_id, "key": "acc", "value": 0.1,
                            "timestamp": TIMESTAMP + i, "step": i}) for i in range(warm + n)]
    url = f"{api}/runs/log-metric"
    headers = {"Content-Type": "application/json"}
    for i in range(warm):
        check(http.post(url, content=bodies[i], headers=headers))
    lat = []
    t0 = time.perf_counter()
    for i in range(warm, warm + n):
        s = time.perf_counter()
        check(http.post(url, content=bodies[i], headers=headers))
        lat.append(time.perf_counter() - s)
    out["raw"] = c.latency_summary(lat, time.perf_counter() - t0)
    return out


def load_history(http: httpx.Client, api: str, run_id: str, points: int) -> float:
    url = f"{api}/runs/log-batch"
    headers = {"Content-Type": "application/json"}
    t0 = time.perf_counter()
    for b in range(points // 1000):
        base = b * 1000
        body = batch_body(run_id, [("h", float(base + j), TIMESTAMP + base + j, base + j)
                                   for j in range(1000)])
        check(http.post(url, content=body, headers=headers))
    return time.perf_counter() - t0


def test_history(client: Any, http: httpx.Client, api: str, exp_id: str,
                 p: dict[str, int]) -> dict[str, Any]:
    points = p["history_points"]
    run_id = new_run(client, exp_id, "history")
    out: dict[str, Any] = {"points": points,
                           "load_s": round(load_history(http, api, run_id, points), 3)}

    client_times, client_cpu = [], []
    for _ in range(p["history_repeats"]):
        cpu0 = c.process_cpu()
        t0 = time.perf_counter()
        hist = client.get_metric_history(run_id, "h")
        client_times.append(time.perf_counter() - t0)
        client_cpu.append(c.process_cpu() - cpu0)
        if len(hist) != points:
            raise RuntimeError(f"get_metric_history returned {len(hist)} points, not {points}")
        del hist
    # The client's own CPU (JSON + protobuf parsing, entity building): a floor no server can
    # go under, so it bounds the achievable through-client speed-up.
    out["client_s"] = {"median": round(c.median(client_times), 4),
                       "all": [round(x, 4) for x in client_times],
                       "client_cpu_s": round(c.median(client_cpu), 4)}

    url = f"{api}/metrics/get-history"
    q: dict[str, str | int] = {"run_id": run_id, "metric_key": "h", "max_results": points}
    raw_times, all_pages_times = [], []
    first_page = pages = total = 0
    size = 0
    for _ in range(p["history_repeats"]):
        t0 = time.perf_counter()
        r = http.get(url, params=q)
        raw_times.append(time.perf_counter() - t0)
        check(r)
        size = len(r.content)
        body = orjson.loads(r.content)
        first_page = len(body.get("metrics", []))
        # If the server caps max_results, also time fetching everything page by page.
        t1 = time.perf_counter()
        pages, total, token = 1, first_page, body.get("next_page_token")
        while token:
            r = http.get(url, params={**q, "page_token": token})
            check(r)
            body = orjson.loads(r.content)
            total += len(body.get("metrics", []))
            pages += 1
            token = body.get("next_page_token")
            if pages > 1000:
                raise RuntimeError("get-history paging did not end")
        all_pages_times.append(raw_times[-1] + (time.perf_counter() - t1))
    out["raw_single_get_s"] = {"median": round(c.median(raw_times), 4),
                               "all": [round(x, 4) for x in raw_times],
                               "returned": first_page, "reply_bytes": size}
    if first_page < points:
        out["raw_single_get_s"]["note"] = (f"server capped max_results={points} at {first_page}; "
                                           f"{pages} pages needed for {total} points")
        out["raw_all_pages_s"] = {"median": round(c.median(all_pages_times), 4), "pages": pages,
                                  "total": total}
    return out


def test_health(http: httpx.Client, url: str, p: dict[str, int]) -> dict[str, Any]:
    lat = []
    t0 = time.perf_counter()
    for _ in range(p["health_calls"]):
        s = time.perf_counter()
        check(http.get(f"{url}/health"))
        lat.append(time.perf_counter() - s)
    return c.latency_summary(lat, time.perf_counter() - t0)


class Target:
    """One server under test, with its MLflow client, experiment and keep-alive connection."""

    def __init__(self, server: c.Server) -> None:
        from mlflow import MlflowClient

        self.server = server
        headers = auth_headers(server)
        if headers:
            # the mlflow client reads its token from the environment at each request; the
            # other servers of a run (mlflow server, --no-auth) ignore the header
            os.environ["MLFLOW_TRACKING_TOKEN"] = headers["Authorization"].split(" ", 1)[1]
        self.client = MlflowClient(tracking_uri=server.tracking_uri)
        self.exp_id = self.client.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")
        self.api = server.mlflow_api
        # One keep-alive connection for every raw request to this server.
        self.http = httpx.Client(timeout=300, headers=headers,
                                 limits=httpx.Limits(max_connections=1,
                                                     max_keepalive_connections=1))

    def close(self) -> None:
        self.http.close()


TESTS: dict[str, Any] = {
    "health_keepalive": lambda t, p: test_health(t.http, t.server.url, p),
    "client_log_batch": lambda t, p: test_client_log_batch(t.client, t.exp_id, p),
    "raw_log_batch": lambda t, p: test_raw_log_batch(t.http, t.api, t.client, t.exp_id, p),
    "log_metric": lambda t, p: test_single_log_metric(t.client, t.http, t.api, t.exp_id, p),
    "history": lambda t, p: test_history(t.client, t.http, t.api, t.exp_id, p),
}


QUIET = {"max_wait_s": 30.0, "others_cores": 0.5}


def run_test(name: str, target: Target, p: dict[str, int]) -> dict[str, Any]:
    waited = c.wait_quiet(QUIET["max_wait_s"], QUIET["others_cores"])
    load = c.CpuMeter([target.server.proc.pid])
    t0 = time.perf_counter()
    try:
        res = TESTS[name](target, p)
    except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - record and go on with the next test
        res = {"error": f"{exc.__class__.__name__}: {exc}"[:2000],
               "traceback": traceback.format_exc()[-2000:]}
    res["_cpu"] = {**load.read(), "waited_for_quiet_s": round(waited, 1)}
    print(f"  [{target.server.name}] {name}: {time.perf_counter() - t0:.1f}s  "
          f"(other processes used {res['_cpu']['others_cores']:.2f} cores)", file=sys.stderr)
    return res


def better(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The better of two rounds of one test: more calls/s, or fewer seconds; errors lose."""
    if "error" in a:
        return b
    if "error" in b:
        return a

    def score(r: dict[str, Any]) -> float:
        leaves: list[float] = []

        def walk(d: Any) -> None:
            if isinstance(d, dict):
                if "calls_per_s" in d:
                    leaves.append(float(d["calls_per_s"]))
                elif "median" in d and isinstance(d["median"], (int, float)):
                    leaves.append(1.0 / max(float(d["median"]), 1e-9))
                else:
                    for k, v in d.items():
                        if not k.startswith("_"):
                            walk(v)
        walk(r)
        prod = 1.0
        for x in leaves:
            prod *= max(x, 1e-9)
        return prod ** (1.0 / len(leaves)) if leaves else 0.0

    return a if score(a) >= score(b) else b


def measure_all(targets: dict[str, Target], p: dict[str, int], rounds: int
                ) -> dict[str, dict[str, Any]]:
    """Run every test on every server, interleaved (test by test, alternating which server goes
    first), ``rounds`` times; keep each test's best round per server and all rounds' numbers."""
    out: dict[str, dict[str, Any]] = {k: {"rounds": []} for k in targets}
    keys = list(targets)
    for rnd in range(rounds):
        order = keys if rnd % 2 == 0 else keys[::-1]
        per: dict[str, dict[str, Any]] = {k: {} for k in keys}
        for name in TESTS:
            for key in order:
                per[key][name] = run_test(name, targets[key], p)
        for key in keys:
            out[key]["rounds"].append(per[key])
            for name, res in per[key].items():
                out[key][name] = better(out[key][name], res) if name in out[key] else res
    return out


# ---------------------------------------------------------------------------------------------
# ratios against the targets

TARGETS = [
    # (label, extractor, higher_is_better, target ratio)
    ("log-batch 1000 metrics, server alone (raw keep-alive), 1 key",
     ("raw_log_batch", "one_key_1000_steps", "calls_per_s"), True, 10.0),
    ("log-batch 1000 metrics, server alone (raw keep-alive), 1000 keys",
     ("raw_log_batch", "1000_keys_one_step", "calls_per_s"), True, 10.0),
    ("log-batch 1000 metrics via MlflowClient, 1 key",
     ("client_log_batch", "one_key_1000_steps", "calls_per_s"), True, 4.0),
    ("log-batch 1000 metrics via MlflowClient, 1000 keys",
     ("client_log_batch", "1000_keys_one_step", "calls_per_s"), True, 4.0),
    ("single log_metric via MlflowClient", ("log_metric", "client", "calls_per_s"), True, 3.0),
    ("single log-metric raw keep-alive POST", ("log_metric", "raw", "calls_per_s"), True, None),
    ("get_metric_history 100k via MlflowClient (s)", ("history", "client_s", "median"),
     False, 10.0),
    ("raw GET get-history 100k, one request (s)", ("history", "raw_single_get_s", "median"),
     False, 10.0),
    ("GET /health keep-alive", ("health_keepalive", "calls_per_s"), True, None),
]


def dig(d: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def comparisons(ember: dict[str, Any], mlflow: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, path, higher, target in TARGETS:
        e, m = dig(ember, path), dig(mlflow, path)
        ratio = None
        if isinstance(e, (int, float)) and isinstance(m, (int, float)) and e > 0 and m > 0:
            ratio = e / m if higher else m / e
        # Through the client, the client's own CPU per call is a floor for any server: the
        # best possible ratio is mlflow's time per call over that floor.
        ceiling = None
        cpu_path = {"client_log_batch": path[:2] + ("client_cpu_ms_per_call",),
                    "log_metric": ("log_metric", "client", "client_cpu_ms_per_call"),
                    "history": ("history", "client_s", "client_cpu_s")}.get(path[0])
        if cpu_path and (path[0] != "log_metric" or path[1] == "client") and (
                path[0] != "history" or path[1] == "client_s"):
            floor = dig(ember, cpu_path)
            if isinstance(floor, (int, float)) and floor > 0 and isinstance(m, (int, float)) \
                    and m > 0:
                if higher:   # m is calls/s; floor is ms per call
                    ceiling = (1000.0 / m) / floor
                else:        # m and floor are seconds
                    ceiling = m / floor
        rows.append({"test": label, "ember": e, "mlflow": m,
                     "client_bound_ceiling": round(ceiling, 2) if ceiling else None,
                     "unit": "calls/s" if higher else "s",
                     "ratio": round(ratio, 2) if ratio is not None else None,
                     "target": target,
                     "met": (ratio >= target) if (ratio is not None and target) else None})
    return rows


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few iterations (smoke run)")
    ap.add_argument("--mlflow-workers", type=int, default=1,
                    help="--workers for the mlflow server the ratios use (default 1: its "
                         "fastest config; the default 4 workers add ~44 ms/request, uvicorn#3149)")
    ap.add_argument("--also-default-workers", action="store_true",
                    help="also measure mlflow server with its default worker count (4)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds of all tests, interleaved across servers; each test reports "
                         "its best round (default 3; quick 1)")
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="before each test, wait up to this many seconds for other processes "
                         "to use under 0.5 cores (shared machines; default 30, quick 0)")
    ap.add_argument("--skip-ember", action="store_true")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--settle", type=float, default=None,
                    help="minimum seconds to wait after /health before measuring; then wait "
                         "(up to 60 s more) until the server's processes are idle "
                         "(default 10; quick 2)")
    ap.add_argument("--profile", choices=("off", "missed", "all"), default="off",
                    help="after measuring, rerun Ember's main loads under py-spy (10 s each; "
                         "flamegraphs + top functions in bench-results/): 'missed' only when a "
                         "target was missed")
    ap.add_argument("--tests", default=None,
                    help=f"comma-separated subset of the tests to run (of {', '.join(TESTS)}); "
                         "default all")
    ap.add_argument("--out", type=Path, default=c.RESULTS / "tracking.json")
    ap.add_argument("--deadline", type=int, default=None, help="overall timeout in seconds")
    args = ap.parse_args(argv)

    if args.tests:
        wanted = [t.strip() for t in args.tests.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in TESTS]
        if unknown:
            ap.error(f"unknown tests {unknown}; known: {list(TESTS)}")
        for name in list(TESTS):
            if name not in wanted:
                del TESTS[name]
    p = params(args.quick)
    rounds = args.rounds or (1 if args.quick else 3)
    QUIET["max_wait_s"] = args.quiet_wait if args.quiet_wait is not None else (
        0.0 if args.quick else 30.0)
    settle = args.settle if args.settle is not None else (2.0 if args.quick else 10.0)
    c.install_deadline(args.deadline or (900 if args.quick else 3600))
    result: dict[str, Any] = {
        "benchmark": "tracking", "quick": args.quick, "params": p, "machine": c.machine_info(),
        "mlflow_server_command": c.mlflow_server_display_command(args.mlflow_workers),
        "mlflow_workers": args.mlflow_workers, "settle_s": settle, "rounds": rounds,
        "quiet_wait": QUIET,
    }

    def start_and_check(key: str, start: Any, stack: contextlib.ExitStack,
                        targets: dict[str, Target]) -> None:
        try:
            srv = stack.enter_context(start())
            ok, why = mlflow_routes_available(srv)
            if not ok:
                raise RuntimeError(f"MLflow routes not available on {srv.name}: {why}")
            targets[key] = Target(srv)
            stack.callback(targets[key].close)
            result[key] = {"tracking_uri": srv.tracking_uri,
                           **{k: v for k, v in srv.extra.items() if k != "descendants"}}
        except (c.BenchTimeout, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a server that won't start is a result too
            result[key] = {"error": f"{exc.__class__.__name__}: {exc}"[:3000]}

    # Phase 1: Ember and mlflow server (--workers N) side by side, tests interleaved.
    with contextlib.ExitStack() as stack:
        targets: dict[str, Target] = {}
        if not args.skip_ember:
            print("ember server: starting", file=sys.stderr)
            result["ember_server_command"] = ("python -m ember.cli.main server start "
                                              "--home <d> --port 0")
            start_and_check("ember", lambda: c.ember_server(settle=settle), stack, targets)
        if not args.skip_mlflow:
            print(f"mlflow server --workers {args.mlflow_workers}: starting", file=sys.stderr)
            start_and_check("mlflow", lambda: c.mlflow_server(args.mlflow_workers,
                                                              settle=settle), stack, targets)
        if targets:
            for res_key, rounds_res in measure_all(targets, p, rounds).items():
                result[res_key].update(rounds_res)
        if "ember" in targets and "mlflow" in targets:
            result["comparison"] = comparisons(result["ember"], result["mlflow"])
        missed = [r["test"] for r in result.get("comparison", []) if r["met"] is False]
        if "ember" in targets and (args.profile == "all" or (args.profile == "missed"
                                                              and missed)):
            print("profiling ember with py-spy", file=sys.stderr)
            result["ember_profile"] = profile_ember(targets["ember"].server, p)
            result["ember_profile"]["missed_targets"] = missed

    # Phase 2 (optional): mlflow server with its default workers, alone.
    if args.also_default_workers and not args.skip_mlflow:
        print("mlflow server (default workers): starting", file=sys.stderr)
        result["mlflow_default_workers_command"] = c.mlflow_server_display_command(None)
        with contextlib.ExitStack() as stack:
            targets = {}
            start_and_check("mlflow_default_workers",
                            lambda: c.mlflow_server(None, settle=settle), stack, targets)
            if targets:
                result["mlflow_default_workers"].update(measure_all(targets, p, 1)[
                    "mlflow_default_workers"])
    if "comparison" in result and "mlflow_default_workers" in result:
        result["comparison_vs_default_workers"] = comparisons(
            result["ember"], result["mlflow_default_workers"])
    c.write_json(args.out, result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=str).decode())
    return 0


# ---------------------------------------------------------------------------------------------
# profiling Ember where it misses a target


def profile_ember(srv: c.Server, p: dict[str, int]) -> dict[str, Any]:
    """Rerun the main loads against Ember under py-spy (about 9 s each)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=srv.tracking_uri)
    exp_id = client.create_experiment(f"profile-{uuid.uuid4().hex[:8]}")
    api = srv.mlflow_api
    out: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Content-Type": "application/json"}

    def loop_for(seconds: float, fn: Any) -> int:
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            fn(n)
            n += 1
        return n

    def record(name: str, fn: Any) -> None:
        with c.py_spy(srv.pid, c.RESULTS / f"profile-ember-{name}.svg") as prof:
            n = loop_for(9, fn)
        out[name] = {**prof, "requests": n}

    with httpx.Client(timeout=300, limits=limits) as http:
        run1, run2 = new_run(client, exp_id, "p1"), new_run(client, exp_id, "p2")
        bodies1 = [batch_body(run1, batch_metrics_one_key(i)) for i in range(400)]
        bodies2 = [batch_body(run2, batch_metrics_many_keys(i)) for i in range(400)]
        record("raw-log-batch", lambda i: check(http.post(
            f"{api}/runs/log-batch", content=(bodies1 if i % 2 == 0 else bodies2)[(i // 2) % 400],
            headers=headers)))

        run5 = new_run(client, exp_id, "p5")
        batches = [[Metric(k, v, t, s) for k, v, t, s in batch_metrics_one_key(i)]
                   for i in range(300)]
        record("client-log-batch", lambda i: client.log_batch(run5, metrics=batches[i % 300]))

        run3 = new_run(client, exp_id, "p3")
        record("client-log-metric", lambda i: client.log_metric(run3, "acc", 0.1, step=i))

        run4 = new_run(client, exp_id, "p4")
        load_history(http, api, run4, p["history_points"])
        record("raw-history-get", lambda i: check(http.get(
            f"{api}/metrics/get-history",
            params={"run_id": run4, "metric_key": "h", "max_results": p["history_points"]})))
        record("client-get-metric-history", lambda i: client.get_metric_history(run4, "h"))
        out["client-side-get-metric-history"] = c.cprofile_top(
            lambda: client.get_metric_history(run4, "h"))
    return out


if __name__ == "__main__":
    try:
        sys.exit(main())
    except c.BenchTimeout as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(3)
