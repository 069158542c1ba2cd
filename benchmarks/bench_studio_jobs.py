"""The studio's job list with 10,000 jobs, against the MLflow UI's runs table with 10,000 runs.

Ember: one workspace server (auth on, the studio's session cookie); the page measured is the
whole server-rendered HTML of ``/ws/default/jobs`` (the data is in it: nothing else is fetched
but cached static files). MLflow: ``mlflow server`` (SQLite), and the call its UI's runs table
makes for the same rows: ``POST /ajax-api/2.0/mlflow/runs/search`` with the UI's page size
(100: ``SEARCH_MAX_RESULTS`` of its bundle) over every experiment, newest first.

Cases: the first page; a filtered page (status Failed in one experiment); a page sorted by
name; a deep page (rows 9,901-10,000); a search (a substring of the name). Ember at its own page
size (50) and at MLflow's (100). Each measured ``--reps`` times after a warm-up, median; time is
the client's, on loopback (request sent to last byte read); bytes are what came over the wire,
the client asking for gzip as browsers do.

Setup, not measured: the 10,000 job rows (and their status histories) are inserted into the Ember
server's database in one transaction with the job store's own tables and row mapping
(``ember.store.sql``), as ``JobStore.create`` writes them but batched; the 10,000 MLflow runs
(tags, 2 params, 2 metrics each, the same experiments, names, statuses and times) are inserted
into ``mlflow server``'s database with MLflow's own SQLAlchemy models. The experiments are made
through each server's REST API.

Usage: python benchmarks/bench_studio_jobs.py [--jobs 10000] [--reps 5] [--quick]
Writes bench-results/studio_jobs.json (or --out), prints a table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402

import _common as c  # noqa: E402

EXPERIMENTS = 20
STATUSES = (("Completed", "FINISHED", 0.80), ("Failed", "FAILED", 0.15),
            ("Canceled", "KILLED", 0.05))
USERS = ("ada", "bob", "chen", "dana")
MLFLOW_PAGE = 100      # the MLflow UI's runs page size (SEARCH_MAX_RESULTS)
TARGET_S = 1.0
TARGET_BYTES = 500 * 1024


def fake_jobs(n: int) -> list[dict[str, Any]]:
    """The same n jobs/runs for both servers: name, experiment, status, times, tags, ..."""
    rng = random.Random(15)
    start = time.time() - n * 60
    out = []
    for i in range(n):
        status = rng.choices(STATUSES, weights=[s[2] for s in STATUSES])[0]
        created = start + i * 60
        began = created + rng.uniform(1, 30)
        out.append({
            "name": f"job-{i:05d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}",
            "display_name": f"run-{i:05d}", "experiment": f"exp-{i % EXPERIMENTS:02d}",
            "status": status[0], "run_status": status[1], "submitter": USERS[i % len(USERS)],
            "created": created, "start": began, "end": began + rng.uniform(5, 3600),
            "tags": {"team": ("vision", "nlp", "speech")[i % 3], "priority": str(i % 5)},
            "description": f"training run number {i}",
            "params": {"lr": f"{rng.choice([0.1, 0.01, 0.001])}", "epochs": str(10 + i % 20)},
            "metrics": {"loss": rng.uniform(0.05, 2.0), "accuracy": rng.uniform(0.5, 0.99)},
        })
    return out


# --- Ember ---------------------------------------------------------------------------------

def fill_ember(srv: c.Server, jobs: list[dict[str, Any]]) -> float:
    from sqlalchemy import insert

    from ember.entities.jobs import Job
    from ember.store.sql import tables as t
    from ember.store.sql.engine import make_engine
    from ember.store.sql.jobs import job_to_spec

    t0 = time.perf_counter()
    token = (srv.workdir / "owner.token").read_text().strip()
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as http:
        ids = {}
        for e in range(EXPERIMENTS):
            r = http.post("/workspaces/default/api/2.0/mlflow/experiments/create",
                          json={"name": f"exp-{e:02d}"})
            r.raise_for_status()
            ids[f"exp-{e:02d}"] = r.json()["experiment_id"]
    rows, history = [], []
    for j in jobs:
        job = Job(name=j["name"], command="python train.py --lr ${{inputs.lr}}",
                  display_name=j["display_name"], experiment_name=j["experiment"],
                  description=j["description"], tags=j["tags"], status=j["status"],
                  creation_time=j["created"], start_time=j["start"], end_time=j["end"],
                  experiment_id=ids[j["experiment"]], submitter=j["submitter"])
        rows.append(dict(name=job.name, workspace="default", type="command",
                         status=job.status, display_name=job.display_name,
                         experiment_name=job.experiment_name, parent_job_name=None,
                         spec=job_to_spec(job), runner={}, error=None,
                         creation_time=job.creation_time, start_time=job.start_time,
                         end_time=job.end_time, reuse_key=None, is_archived=False,
                         submitter=job.submitter))
        for status, when in (("Queued", j["created"]), ("Running", j["start"]),
                             (j["status"], j["end"])):
            history.append(dict(job_name=j["name"], status=status, time=when, reason=""))
    engine = make_engine(f"sqlite:///{srv.workdir / 'ember.db'}")
    with engine.begin() as conn:
        conn.execute(insert(t.jobs), rows)
        conn.execute(insert(t.job_status_changes), history)
    engine.dispose()
    return time.perf_counter() - t0


def ember_session(srv: c.Server) -> httpx.Client:
    token = (srv.workdir / "owner.token").read_text().strip()
    made = httpx.post(f"{srv.url}/api/v1/tokens", headers={"Authorization": f"Bearer {token}"},
                      json={"name": "bench", "expires_in_days": 0.5}, timeout=60)
    made.raise_for_status()
    body = made.json()
    client = httpx.Client(base_url=srv.url, timeout=120,
                          headers={"Accept-Encoding": "gzip"})
    client.cookies.set("ember_session", f"{body['id']}.{body['token']}")
    return client


# --- MLflow --------------------------------------------------------------------------------

def fill_mlflow(srv: c.Server, jobs: list[dict[str, Any]]) -> tuple[float, dict[str, str]]:
    import warnings
    # MLflow's models use a loader strategy SQLAlchemy deprecates: not ours to fix
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from mlflow.store.tracking.dbmodels import models as m
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    t0 = time.perf_counter()
    ids = {}
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        for e in range(EXPERIMENTS):
            r = http.post("/api/2.0/mlflow/experiments/create", json={"name": f"exp-{e:02d}"})
            r.raise_for_status()
            ids[f"exp-{e:02d}"] = r.json()["experiment_id"]
    engine = create_engine(f"sqlite:///{srv.workdir / 'mlflow.db'}")
    with Session(engine) as session, session.begin():
        objects: list[Any] = []
        for j in jobs:
            run_id = uuid.uuid5(uuid.NAMESPACE_URL, j["name"]).hex
            start_ms, end_ms = int(j["start"] * 1000), int(j["end"] * 1000)
            objects.append(m.SqlRun(
                run_uuid=run_id, name=j["display_name"], source_type="JOB",
                source_name="", entry_point_name="", user_id=j["submitter"],
                status=j["run_status"], start_time=start_ms, end_time=end_ms,
                source_version="", lifecycle_stage="active",
                artifact_uri=f"mlflow-artifacts:/{ids[j['experiment']]}/{run_id}/artifacts",
                experiment_id=int(ids[j["experiment"]])))
            tags = {"mlflow.runName": j["display_name"], "mlflow.user": j["submitter"],
                    "mlflow.source.type": "JOB", **j["tags"]}
            objects += [m.SqlTag(key=k, value=v, run_uuid=run_id) for k, v in tags.items()]
            objects += [m.SqlParam(key=k, value=v, run_uuid=run_id)
                        for k, v in j["params"].items()]
            for key, value in j["metrics"].items():
                for cls in (m.SqlMetric, m.SqlLatestMetric):
                    objects.append(cls(key=key, value=value, timestamp=end_ms, step=0,
                                       is_nan=False, run_uuid=run_id))
        session.add_all(objects)
    engine.dispose()
    return time.perf_counter() - t0, ids


def offset_token(offset: int) -> str:
    """MLflow's page token for ``offset`` (what its "Load more" sends after that many rows)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


# --- measuring -----------------------------------------------------------------------------

def measure(client: httpx.Client, method: str, path: str, reps: int,
            body: Any = None) -> dict[str, Any]:
    def once() -> tuple[float, httpx.Response]:
        t0 = time.perf_counter()
        r = client.request(method, path, json=body)
        r.read()
        return time.perf_counter() - t0, r

    _, warm = once()
    warm.raise_for_status()
    times, sizes, raw = [], [], []
    for _ in range(reps):
        dt, r = once()
        r.raise_for_status()
        times.append(dt)
        sizes.append(r.num_bytes_downloaded)
        raw.append(len(r.content))
    return {"median_s": round(c.median(times), 4), "min_s": round(min(times), 4),
            "max_s": round(max(times), 4), "wire_bytes": int(c.median(sizes)),
            "body_bytes": int(c.median(raw)),
            "encoding": warm.headers.get("content-encoding", "identity")}


def load_more(client: httpx.Client, body: dict[str, Any], n: int) -> dict[str, Any]:
    """What the MLflow UI costs to show the last rows: it has no page links, only "Load
    more", so it fetches every page before them (once, in order, each with the last token)."""
    t0, total, calls, token = time.perf_counter(), 0, 0, None
    while True:
        r = client.post("/ajax-api/2.0/mlflow/runs/search",
                        json={**body, **({"page_token": token} if token else {})})
        r.raise_for_status()
        total += r.num_bytes_downloaded
        calls += 1
        token = r.json().get("next_page_token")
        if not token or calls * MLFLOW_PAGE >= n:
            break
    return {"calls": calls, "s": round(time.perf_counter() - t0, 3), "wire_bytes": total}


def run(args: argparse.Namespace) -> dict[str, Any]:
    jobs = fake_jobs(args.jobs)
    n = len(jobs)
    deep_page = max(1, n // 50 - 1)       # Ember, 50 a page: rows n-99 .. n-50
    deep100 = max(1, n // 100)            # the last page of 100
    mid_exp = "exp-07"
    result: dict[str, Any] = {"jobs": n, "reps": args.reps, "load_before": os.getloadavg()}
    with c.ember_server(settle=args.settle) as srv:
        result["ember_fill_s"] = round(fill_ember(srv, jobs), 1)
        with ember_session(srv) as client:
            page = "/ws/default/jobs"
            cases = {
                "first page": f"{page}",
                "filtered (Failed, one experiment)": f"{page}?status=Failed&experiment={mid_exp}",
                "sorted by name": f"{page}?sort=name&dir=asc",
                "deep page": f"{page}?page={deep_page}",
                "search (name substring)": f"{page}?q=run-012",
            }
            ember: dict[str, Any] = {}
            for label, path in cases.items():
                for size in (50, 100):
                    sized = path
                    if size != 50:
                        sep = "&" if "?" in path else "?"
                        sized = (f"{page}?page={deep100}&size=100" if label == "deep page"
                                 else f"{path}{sep}size={size}")
                    ember[f"{label}|{size}"] = {"path": sized,
                                                **measure(client, "GET", sized, args.reps)}
            result["ember"] = ember
    with c.mlflow_server(None, settle=args.settle) as srv:
        fill_s, ids = fill_mlflow(srv, jobs)
        result["mlflow_fill_s"] = round(fill_s, 1)
        every = sorted(ids.values(), key=int)
        base = {"experiment_ids": every, "run_view_type": "ACTIVE_ONLY",
                "max_results": MLFLOW_PAGE, "order_by": ["attributes.start_time DESC"]}
        bodies = {
            "first page": base,
            "filtered (Failed, one experiment)": {
                **base, "experiment_ids": [ids[mid_exp]],
                "filter": "attributes.status = 'FAILED'"},
            "sorted by name": {**base, "order_by": ["attributes.run_name ASC"]},
            "deep page": {**base, "page_token": offset_token(max(0, n - MLFLOW_PAGE))},
            "search (name substring)": {**base,
                                        "filter": "attributes.run_name ILIKE '%run-012%'"},
        }
        with httpx.Client(base_url=srv.url, timeout=120,
                          headers={"Accept-Encoding": "gzip"}) as client:
            result["mlflow"] = {label: {"body": body, **measure(
                client, "POST", "/ajax-api/2.0/mlflow/runs/search", args.reps, body)}
                for label, body in bodies.items()}
            result["mlflow_load_more_to_deep"] = load_more(client, base, n)
    result["load_after"] = os.getloadavg()
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['jobs']:,} jobs / runs; median of {result['reps']}; load average "
             f"before {result['load_before'][0]:.2f}, after {result['load_after'][0]:.2f}",
             "",
             "| case | Ember page, 50 rows | Ember page, 100 rows | MLflow runs/search, "
             "100 rows | time ratio MLflow/Ember (100 rows) | target met (Ember) |",
             "|---|---|---|---|---|---|"]

    def cell(m: dict[str, Any]) -> str:
        return f"{m['median_s'] * 1000:.0f} ms, {m['wire_bytes'] / 1024:.1f} KB"

    for label, ml in result["mlflow"].items():
        e50, e100 = result["ember"][f"{label}|50"], result["ember"][f"{label}|100"]
        met = all(m["median_s"] < TARGET_S and m["wire_bytes"] < TARGET_BYTES
                  for m in (e50, e100))
        lines.append(f"| {label} | {cell(e50)} | {cell(e100)} | {cell(ml)} | "
                     f"{ml['median_s'] / e100['median_s']:.2f} | {'yes' if met else 'NO'} |")
    more = result["mlflow_load_more_to_deep"]
    lines.append("")
    lines.append(f"MLflow UI to reach its last rows (Load more, {more['calls']} calls): "
                 f"{more['s']:.2f} s, {more['wire_bytes'] / 1024 / 1024:.1f} MB; Ember's deep "
                 "page is one request (page links)")
    enc = {m["encoding"] for m in result["ember"].values()}
    mlenc = {m["encoding"] for m in result["mlflow"].values()}
    lines.append("")
    lines.append(f"wire encodings: Ember {sorted(enc)}, MLflow {sorted(mlenc)}; uncompressed "
                 "bodies: Ember first page "
                 f"{result['ember']['first page|50']['body_bytes'] / 1024:.1f} KB (50 rows), "
                 f"MLflow {result['mlflow']['first page']['body_bytes'] / 1024:.1f} KB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1,000 jobs, 2 repetitions")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=c.RESULTS / "studio_jobs.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.jobs, args.reps = min(args.jobs, 1000), 2
    c.install_deadline(1800)
    result: dict[str, Any] = {"benchmark": "studio_jobs", "machine": c.machine_info(),
                              **run(args)}
    result["table"] = table(result)
    c.write_json(args.out, result)
    print(result["table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
