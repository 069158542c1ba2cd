"""The studio's Metrics tab with a 100,000-point metric: server time and bytes of the page
(its data embedded: every metric downsampled on the server to 1,000 points, min and max per
bucket) and of its data call alone, beside the MLflow UI's API calls for the same series on a
real ``mlflow server``: ``ajax-api/2.0/mlflow/metrics/get-history`` (the whole series, page by
page) and the sampled ``get-history-bulk-interval`` (320 points, the UI's default). The target
(issue 15): under 1 s server time and under 500 KB for the page and its data.

Times are medians of ``--repeats`` requests on loopback, measured by the client (the server's
time plus a loopback transfer). plotly.js and the studio's scripts are static files with
versioned URLs, cached for good after the first page: their sizes are reported apart.

Usage: python benchmarks/bench_studio_metrics.py [--quick] [--points 100000] [--repeats 9]
Writes bench-results/studio_metrics.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import orjson  # noqa: E402

import _common as c  # noqa: E402

TIMESTAMP = 1_700_000_000_000
KEY = "loss"
UI_SAMPLED_POINTS = 320      # the MLflow UI's maxResults for sampled charts


def series(points: int) -> list[tuple[float, int, int]]:
    """(value, timestamp, step): a decaying loss with noise and a few spikes."""
    out = []
    for s in range(points):
        noise = ((s * 2654435761) % 1000) / 1000 - 0.5
        spike = 2.0 if s % 17_011 == 5_000 else 0.0
        out.append((1.0 / (1 + s / 500) + 0.05 * noise + spike, TIMESTAMP + 10 * s, s))
    return out


def log_points(http: httpx.Client, api: str, run_id: str, points: int,
               headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    rows = series(points)
    for start in range(0, points, 1000):
        body = orjson.dumps({"run_id": run_id, "metrics": [
            {"key": KEY, "value": v, "timestamp": t, "step": s}
            for v, t, s in rows[start:start + 1000]]})
        r = http.post(f"{api}/runs/log-batch", content=body,
                      headers={**headers, "Content-Type": "application/json"})
        r.raise_for_status()
    return time.perf_counter() - t0


def timed(fetch: Any, repeats: int) -> dict[str, Any]:
    """Median and min time and the bytes (raw and gzip) of ``fetch()`` -> list of bodies."""
    fetch()   # warm-up
    times, bodies = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bodies = fetch()
        times.append(time.perf_counter() - t0)
    raw = sum(len(b) for b in bodies)
    return {"median_ms": round(c.median(times) * 1000, 1), "min_ms": round(min(times) * 1000, 1),
            "requests": len(bodies), "bytes": raw,
            "gzip_bytes": sum(len(gzip.compress(b, 6)) for b in bodies)}


def get(http: httpx.Client, url: str, **kw: Any) -> bytes:
    r = http.get(url, **kw)
    r.raise_for_status()
    return r.content


def full_history(http: httpx.Client, base: str, run_id: str, **kw: Any) -> list[bytes]:
    """Every page of get-history, as the MLflow UI fetches a whole series."""
    bodies, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": KEY, **({"page_token": token} if token else {})}
        body = get(http, f"{base}/metrics/get-history", params=params, **kw)
        bodies.append(body)
        token = orjson.loads(body).get("next_page_token")
        if not token:
            return bodies


def ember_side(points: int, repeats: int, settle: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with c.ember_server(settle=settle) as srv, httpx.Client(timeout=120) as http:
        token = (srv.workdir / "owner.token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        ws = f"{srv.url}/api/v1/workspaces/default"
        release = srv.workdir / "release"
        # a real job whose run the points are logged to, kept running until they are in
        made_job = http.post(f"{ws}/jobs", headers=auth, json={
            "command": "python -c \"import pathlib, time\nwhile not pathlib.Path("
                       f"'{release}').exists(): time.sleep(0.05)\"",
            "display_name": "bench-metrics"})
        if made_job.status_code != 201:
            raise RuntimeError(f"job create: {made_job.status_code} {made_job.text[:300]}")
        name = made_job.json()["name"]
        deadline = time.monotonic() + 120
        while http.get(f"{ws}/jobs/{name}", headers=auth).json()["status"] != "Running":
            if time.monotonic() > deadline:
                raise RuntimeError("the job did not start")
            time.sleep(0.1)
        out["log_batch_s"] = round(log_points(http, f"{srv.tracking_uri}/api/2.0/mlflow", name,
                                              points, auth), 2)
        release.touch()
        while http.get(f"{ws}/jobs/{name}", headers=auth).json()["status"] != "Completed":
            if time.monotonic() > deadline + 120:
                raise RuntimeError("the job did not end")
            time.sleep(0.1)
        made = http.post(f"{srv.url}/api/v1/tokens", headers=auth,
                         json={"name": "bench", "expires_in_days": 0.5}).json()
        cookie = {"ember_session": f"{made['id']}.{made['token']}"}
        page_url = f"{srv.url}/ws/default/jobs/{name}/metrics"
        out["metrics_tab_page"] = timed(lambda: [get(http, page_url, cookies=cookie)], repeats)
        out["metrics_data_call"] = timed(lambda: [get(
            http, f"{ws}/jobs/{name}/metrics", params={"max_points": 1000}, headers=auth)],
            repeats)
        mlflow_api = f"{srv.tracking_uri}/api/2.0/mlflow"
        out["get_history_full"] = timed(lambda: full_history(http, mlflow_api, name,
                                                             headers=auth), repeats)
        out["get_history_bulk_interval_320"] = timed(lambda: [get(
            http, f"{mlflow_api}/metrics/get-history-bulk-interval", headers=auth,
            params={"run_ids": name, "metric_key": KEY, "max_results": UI_SAMPLED_POINTS})],
            repeats)
        page = get(http, page_url, cookies=cookie).decode()
        statics = {}
        for ref in sorted({p.split('"')[0] for p in page.split('src="')[1:]}
                          | {p.split('"')[0] for p in page.split('href="')[1:]
                             if p.split('"')[0].endswith(".css")}):
            if ref.startswith("/static/") or ref.startswith("/"):
                with contextlib.suppress(httpx.HTTPError):
                    statics[ref.rsplit("/", 1)[-1]] = len(get(http, f"{srv.url}{ref}"))
        out["static_files_bytes_cached"] = statics
    return out


def mlflow_side(points: int, repeats: int, settle: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with c.mlflow_server(1, settle=settle) as srv, httpx.Client(timeout=120) as http:
        api = f"{srv.url}/api/2.0/mlflow"
        run = http.post(f"{api}/runs/create", json={"experiment_id": "0",
                                                     "start_time": TIMESTAMP}).json()
        run_id = run["run"]["info"]["run_id"]
        out["log_batch_s"] = round(log_points(http, api, run_id, points, {}), 2)
        ajax = f"{srv.url}/ajax-api/2.0/mlflow"
        out["ui_get_history_full"] = timed(lambda: full_history(http, ajax, run_id), repeats)
        out["ui_get_history_bulk_interval_320"] = timed(lambda: [get(
            http, f"{ajax}/metrics/get-history-bulk-interval",
            params={"run_ids": run_id, "metric_key": KEY,
                    "max_results": UI_SAMPLED_POINTS})], repeats)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 points, 3 repeats")
    ap.add_argument("--points", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--out", type=Path, default=c.RESULTS / "studio_metrics.json")
    args = ap.parse_args(argv)
    points = args.points or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (3 if args.quick else 9)
    settle = 2.0 if args.quick else 5.0
    c.install_deadline(900 if args.quick else 1800)
    result: dict[str, Any] = {"benchmark": "studio_metrics", "points": points,
                              "repeats": repeats, "machine": c.machine_info(),
                              "load_before": os.getloadavg()}
    print("ember server: starting", file=sys.stderr)
    result["ember"] = ember_side(points, repeats, settle)
    if not args.skip_mlflow:
        print("mlflow server --workers 1: starting", file=sys.stderr)
        result["mlflow"] = mlflow_side(points, repeats, settle)
    result["load_after"] = os.getloadavg()
    e = result["ember"]
    page = e["metrics_tab_page"]
    result["target"] = {"page_server_ms": page["median_ms"], "page_bytes": page["bytes"],
                        "met": page["median_ms"] < 1000 and page["bytes"] < 500_000}
    if "mlflow" in result:
        m = result["mlflow"]
        full, sampled = m["ui_get_history_full"], m["ui_get_history_bulk_interval_320"]
        result["comparison"] = {
            "mlflow_full_over_ember_page_time": round(full["median_ms"] / page["median_ms"], 2),
            "mlflow_full_over_ember_page_bytes": round(full["bytes"] / page["bytes"], 2),
            "mlflow_sampled_over_ember_page_time": round(sampled["median_ms"]
                                                         / page["median_ms"], 2),
            "mlflow_sampled_over_ember_data_time": round(
                sampled["median_ms"] / e["metrics_data_call"]["median_ms"], 2),
        }
    c.write_json(args.out, result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
