"""Online serving: an Ember endpoint vs ``mlflow models serve`` on the same sklearn MLflow model.

Model: ``LogisticRegression`` on 4 float columns, saved with ``mlflow.sklearn.save_model`` and a
signature. Request: one row as a split DataFrame (Ember: ``{"input_data": {...}}``, MLflow:
``{"dataframe_split": {...}}``), so both do the same work per request.

  mlflow: ``mlflow models serve -m <model> --env-manager local`` (its defaults: 1 worker);
          also with ``--workers 2`` (informative: the machine has 2 cores).
  Ember:  endpoint + MLflow no-code deployment, ``instance_count`` 2 (one worker process per
          core), ``max_concurrent_requests_per_instance`` 16, called through the router's
          scoring URI with the key.

Load: closed-loop clients (each sends its next request when the previous one answered) on
keep-alive connections, spread over 4 client processes, for ``--seconds`` per point; 1 and 32
concurrent clients. Throughput = successful requests / s; latency p50/p99 from every request.

Router overhead: 2000 sequential requests to one worker directly (its own address) and through
the router, interleaved in blocks of 100; overhead = p50(router) - p50(direct).

Rollout: 8 closed-loop clients while the deployment is updated (new generation of workers);
every non-200 answer or transport error counts as a failure.

Usage: python benchmarks/bench_serving.py [--quick] [--seconds S] [--out PATH]
Writes bench-results/serving.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

COLUMNS = ["a", "b", "c", "d"]
ROW = [[0.3, 1.2, -0.4, 2.0]]
TARGET_THROUGHPUT_RATIO = 2.0
TARGET_ROUTER_P50_MS = 1.0
CLIENT_PROCS = 4


def save_model(folder: Path) -> None:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=COLUMNS)
    y = (X["a"] + X["b"] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(clf, str(folder), signature=infer_signature(X, clf.predict(X)))


# ---------------------------------------------------------------------------------------------
# load generation: closed-loop clients in several processes


def _client_loop(url: str, body: bytes, headers: dict[str, str], until: float,
                 out: list[tuple[float, int]]) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    while time.monotonic() < until:
        t0 = time.perf_counter()
        try:
            conn.request("POST", parts.path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            status = 0
        out.append((time.perf_counter() - t0, status))
    conn.close()


def _load_proc(url: str, body: bytes, headers: dict[str, str], threads: int, start: float,
               seconds: float, queue: Any) -> None:
    while time.time() < start:
        time.sleep(0.001)
    until = time.monotonic() + seconds
    results: list[list[tuple[float, int]]] = [[] for _ in range(threads)]
    workers = [threading.Thread(target=_client_loop, args=(url, body, headers, until, r))
               for r in results]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put([x for r in results for x in r])


def load(url: str, body: bytes, headers: dict[str, str], clients: int,
         seconds: float) -> dict[str, Any]:
    procs_n = min(CLIENT_PROCS, clients)
    per = [clients // procs_n + (1 if i < clients % procs_n else 0) for i in range(procs_n)]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 1.5
    procs = [ctx.Process(target=_load_proc, args=(url, body, headers, n, start, seconds, queue))
             for n in per]
    for p in procs:
        p.start()
    samples: list[tuple[float, int]] = []
    for _ in procs:
        samples.extend(queue.get(timeout=seconds + 120))
    for p in procs:
        p.join()
    ok = [t for t, s in samples if s == 200]
    return {"clients": clients, "seconds": seconds, "requests": len(samples),
            "ok": len(ok), "failed": len(samples) - len(ok),
            "throughput_rps": round(len(ok) / seconds, 1),
            "p50_ms": round(c.percentile(ok, 50) * 1000, 3) if ok else None,
            "p99_ms": round(c.percentile(ok, 99) * 1000, 3) if ok else None}


# ---------------------------------------------------------------------------------------------
# servers


def mlflow_serve(model: Path, workers: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = c.free_port()
    log = Path(tempfile.mkstemp(prefix="bench-mlflow-serve-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model),
           "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers)]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = c._spawn(cmd, log, env=env)
    c.wait_http_ok(f"http://127.0.0.1:{port}/ping", proc, 180)
    return proc, f"http://127.0.0.1:{port}/invocations", log


def ember_endpoint(server: c.Server, model: Path, instances: int) -> tuple[str, str, Any]:
    from ember.client.mlclient import MLClient
    from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint, RequestSettings
    from ember.entities.models import Model

    client = MLClient(endpoint=server.url)
    client.models.create_or_update(Model(name="bench-clf", path=str(model),
                                         type="mlflow_model"))
    client.online_endpoints.create_or_update(OnlineEndpoint(name="bench"))
    client.online_deployments.begin_create_or_update(OnlineDeployment(
        name="blue", endpoint_name="bench", model="azureml:bench-clf:1",
        instance_count=instances,
        request_settings=RequestSettings(request_timeout_ms=30_000,
                                         max_concurrent_requests_per_instance=16,
                                         max_queue_wait_ms=30_000)),
        all_traffic=True).result(timeout=300)   # traffic is on blue once this returns
    ep = client.online_endpoints.get("bench")
    return ep.scoring_uri, client.online_endpoints.get_keys("bench").primary_key, client


def sequential(url: str, body: bytes, headers: dict[str, str], n: int) -> list[float]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("POST", parts.path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url} answered {resp.status}")
        out.append(time.perf_counter() - t0)
    conn.close()
    return out


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--router-only", action="store_true",
                    help="only the router overhead (no mlflow serve, no load, no rollout), "
                         "measured --repeats times on one endpoint")
    ap.add_argument("--repeats", type=int, default=3,
                    help="with --router-only: independent overhead measurements (default 3)")
    ap.add_argument("--out", default=str(Path("bench-results") / "serving.json"))
    args = ap.parse_args(argv)
    if args.router_only:
        return router_only(args)
    seconds = 3.0 if args.quick else args.seconds
    result: dict[str, Any] = {"benchmark": "serving", "quick": args.quick,
                              "machine": c.machine_info(), "seconds_per_point": seconds}
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model = work / "model"
    save_model(model)
    frame = {"columns": COLUMNS, "data": ROW}
    ember_body = json.dumps({"input_data": frame}).encode()
    mlflow_body = json.dumps({"dataframe_split": frame}).encode()
    json_headers = {"Content-Type": "application/json"}
    try:
        for workers in (1, 2):
            proc, url, log = mlflow_serve(model, workers)
            try:
                sequential(url, mlflow_body, json_headers, 50)   # warm-up
                result[f"mlflow_serve_{workers}w"] = {
                    str(n): load(url, mlflow_body, json_headers, n, seconds) for n in (1, 32)}
            finally:
                c.stop_process_group(proc)
                log.unlink(missing_ok=True)
        with c.ember_server(settle=2.0) as server:
            url, key, client = ember_endpoint(server, model, instances=2)
            headers = {**json_headers, "Authorization": f"Bearer {key}"}
            sequential(url, ember_body, headers, 50)
            result["ember"] = {str(n): load(url, ember_body, headers, n, seconds)
                               for n in (1, 32)}
            inst = client.online_deployments.instances("blue", "bench")[0]["address"]
            result["router_overhead"] = router_overhead(
                f"http://{inst}/score", url, ember_body, headers, 10 if args.quick else 20)
            result["rollout"] = rollout(client, url, ember_body, headers, seconds)
            client.close()
        base = result["mlflow_serve_1w"]["32"]["throughput_rps"]
        ours = result["ember"]["32"]["throughput_rps"]
        result["throughput_ratio_32"] = round(ours / base, 2) if base else None
        two = result["mlflow_serve_2w"]["32"]["throughput_rps"]
        result["throughput_ratio_32_vs_2_workers"] = round(ours / two, 2) if two else None
        result["targets"] = {
            "throughput_ratio_32": TARGET_THROUGHPUT_RATIO,
            "met_throughput": (result["throughput_ratio_32"] or 0) >= TARGET_THROUGHPUT_RATIO,
            "met_router_overhead": result["router_overhead"]["overhead_p50_ms"]
            <= TARGET_ROUTER_P50_MS,
            "met_rollout": result["rollout"]["failed"] == 0}
    except Exception:  # noqa: BLE001 - the report says what broke
        result["error"] = traceback.format_exc()
    c.write_json(Path(args.out), result)
    print(json.dumps(result, indent=2))
    return 1 if "error" in result else 0


def router_overhead(direct_url: str, url: str, body: bytes, headers: dict[str, str],
                    blocks: int) -> dict[str, Any]:
    """p50 through the router minus p50 straight to one worker, in interleaved blocks of 100."""
    json_headers = {"Content-Type": "application/json"}
    direct: list[float] = []
    routed: list[float] = []
    for _ in range(blocks):
        direct += sequential(direct_url, body, json_headers, 100)
        routed += sequential(url, body, headers, 100)
    d50, r50 = c.percentile(direct, 50) * 1000, c.percentile(routed, 50) * 1000
    return {"requests_each": len(direct), "direct_p50_ms": round(d50, 3),
            "router_p50_ms": round(r50, 3), "overhead_p50_ms": round(r50 - d50, 3),
            "direct_p99_ms": round(c.percentile(direct, 99) * 1000, 3),
            "router_p99_ms": round(c.percentile(routed, 99) * 1000, 3),
            "target_ms": TARGET_ROUTER_P50_MS}


def router_only(args: argparse.Namespace) -> int:
    """The router overhead alone, ``--repeats`` times on one endpoint: median and spread."""
    result: dict[str, Any] = {"benchmark": "serving-router", "quick": args.quick,
                              "machine": c.machine_info()}
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model = work / "model"
    save_model(model)
    body = json.dumps({"input_data": {"columns": COLUMNS, "data": ROW}}).encode()
    try:
        with c.ember_server(settle=2.0) as server:
            url, key, client = ember_endpoint(server, model, instances=2)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            sequential(url, body, headers, 200)   # warm-up
            inst = client.online_deployments.instances("blue", "bench")[0]["address"]
            runs = []
            for _ in range(args.repeats):
                runs.append(router_overhead(f"http://{inst}/score", url, body, headers,
                                            10 if args.quick else 20))
                print(f"  overhead p50 {runs[-1]['overhead_p50_ms']} ms "
                      f"(direct {runs[-1]['direct_p50_ms']}, router {runs[-1]['router_p50_ms']})",
                      file=sys.stderr)
            client.close()
        over = sorted(r["overhead_p50_ms"] for r in runs)
        result["runs"] = runs
        result["overhead_p50_ms"] = {"median": round(c.median(over), 3), "min": over[0],
                                     "max": over[-1]}
    except Exception:  # noqa: BLE001 - the report says what broke
        result["error"] = traceback.format_exc()
    c.write_json(Path(args.out), result)
    print(json.dumps(result, indent=2))
    return 1 if "error" in result else 0


def rollout(client: Any, url: str, body: bytes, headers: dict[str, str],
            seconds: float) -> dict[str, Any]:
    from ember.entities.online_endpoints import OnlineDeployment, RequestSettings

    outcome: dict[str, Any] = {}

    def update() -> None:
        time.sleep(2.0)
        t0 = time.monotonic()
        client.online_deployments.begin_create_or_update(OnlineDeployment(
            name="blue", endpoint_name="bench", model="azureml:bench-clf:1",
            instance_count=2, environment_variables={"ROLLOUT": "2"},
            request_settings=RequestSettings(request_timeout_ms=30_000,
                                             max_concurrent_requests_per_instance=16,
                                             max_queue_wait_ms=30_000))).result(timeout=300)
        outcome["rollout_s"] = round(time.monotonic() - t0, 2)

    updater = threading.Thread(target=update)
    updater.start()
    measured = load(url, body, headers, 8, max(seconds, 12.0) + 6.0)
    updater.join()
    return {**measured, **outcome, "generation": client.online_deployments.get(
        "blue", "bench").generation}


if __name__ == "__main__":
    sys.exit(main())
