"""Compare jobs (``/ws/<ws>/compare?jobs=a,b,...``): each metric's charts overlaid, a
params/metrics table that can hide its equal columns, a scatter of any two values.

A job is an MLflow run whose id is the job's name: the page reads ``runs/get`` (params, each
metric's last value) and ``metrics/get-history-bulk-interval`` (each metric's history, sampled
on the server to at most ``POINTS`` steps) of the workspace's MLflow protocol. The table's
min and max come from those histories: exact for series up to ``POINTS`` steps, from the
sample beyond (the page says which).
"""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from ember.errors import InvalidInputError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import render
from ember.server.studio.session import Session, page_session

router = studio_router()

MAX_JOBS = 20      # one chart trace per job; MLflow's bulk history takes 100 runs at most
POINTS = 500       # steps per metric chart (the server samples longer series)
# plotly's default colours, one per job, the same in every chart and the scatter
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def job_names(request: Request) -> list[str]:
    """``jobs=a,b`` or ``jobs=a&jobs=b`` (what the list's form sends), in order, once each."""
    names: list[str] = []
    for value in request.query_params.getlist("jobs"):
        for name in value.split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return names


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def shown(value: Any) -> str:
    """A table cell: numbers to 6 significant digits (the data keeps them whole)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _same(values: list[Any]) -> bool:
    return len({repr(v) for v in values}) <= 1


@router.get("/ws/{workspace}/compare")
async def compare(request: Request, workspace: str, session: Session = Depends(page_session),
                  api: StudioApi = Depends(studio_api)) -> Response:
    names = job_names(request)
    repeated = len(request.query_params.getlist("jobs")) > 1
    if repeated:
        # one stable URL per selection: jobs=a,b
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "jobs"]
        query = urllib.parse.urlencode([("jobs", ",".join(names)), *rest], safe=",")
        return RedirectResponse(f"{request.url.path}?{query}", status_code=303)
    if len(names) > MAX_JOBS:
        raise InvalidInputError(f"compare at most {MAX_JOBS} jobs at once ({len(names)} given)")
    mlflow = f"/workspaces/{quote(workspace)}/api/2.0/mlflow"
    jobs = []
    for i, name in enumerate(names):
        job = await api.get(api.ws(f"/jobs/{quote(name)}"))   # a missing job: a 404 page
        run = (await api.get(f"{mlflow}/runs/get", run_id=name))["run"]
        info, data = run["info"], run.get("data") or {}
        jobs.append({"id": info["run_id"], "label": job.get("display_name") or name,
                     "status": job["status"], "colour": COLOURS[i % len(COLOURS)],
                     "params": {p["key"]: p["value"] for p in data.get("params") or []},
                     "last": {m["key"]: m["value"] for m in data.get("metrics") or []}})
    keys = sorted({k for j in jobs for k in j["last"]})
    series: dict[str, dict[str, dict[str, list[Any]]]] = {}
    sampled: list[str] = []
    for key in keys:
        ids = [j["id"] for j in jobs if key in j["last"]]
        got = await api.get(f"{mlflow}/metrics/get-history-bulk-interval", run_ids=ids,
                            metric_key=key, max_results=POINTS)
        per_run: dict[str, dict[str, list[Any]]] = {}
        for point in got.get("metrics") or []:
            line = per_run.setdefault(point["run_id"], {"step": [], "value": [], "time": []})
            line["step"].append(point.get("step", 0))
            line["value"].append(point["value"])
            line["time"].append(point.get("timestamp", 0))
        if any(len(line["step"]) >= POINTS for line in per_run.values()):
            sampled.append(key)
        series[key] = per_run

    columns = _columns(jobs, keys, series)
    return render(request, session, "compare/compare.html", title="Compare jobs", jobs=jobs,
                  columns=columns, keys=keys, shown=shown, sampled=sampled, max_jobs=MAX_JOBS,
                  points=POINTS,
                  hide_equal=request.query_params.get("hide_equal") in ("1", "true", "on"),
                  x=request.query_params.get("x", ""), y=request.query_params.get("y", ""),
                  page_data={"jobs": [{k: j[k] for k in ("id", "label", "colour")}
                                      for j in jobs],
                             "series": series,
                             "values": {c["id"]: c["values"] for c in columns},
                             "columns": [{k: c[k] for k in ("id", "label", "numeric")}
                                         for c in columns]})


def _columns(jobs: list[dict[str, Any]], keys: list[str],
             series: dict[str, dict[str, dict[str, list[Any]]]]) -> list[dict[str, Any]]:
    """The table's columns: each param, then each metric's last, min and max; ``values`` by
    job id (None where a job has none), ``equal`` when every job has the same."""
    columns: list[dict[str, Any]] = []
    for param in sorted({k for j in jobs for k in j["params"]}):
        values = {j["id"]: j["params"].get(param) for j in jobs}
        columns.append({"id": f"param:{param}", "label": param, "kind": "param",
                        "values": values})
    for key in keys:
        lines = {j["id"]: series.get(key, {}).get(j["id"], {}).get("value") or [] for j in jobs}
        for stat in ("last", "min", "max"):
            values = {}
            for j in jobs:
                if stat == "last":
                    values[j["id"]] = j["last"].get(key)
                else:
                    found = [v for v in lines[j["id"]] if _number(v) is not None]
                    values[j["id"]] = (min(found) if stat == "min" else max(found)) \
                        if found else None
            columns.append({"id": f"metric:{key}:{stat}", "label": f"{key} ({stat})",
                            "kind": "metric", "values": values})
    for column in columns:
        cells = list(column["values"].values())
        column["equal"] = len(jobs) > 1 and _same(cells)
        column["numeric"] = all(_number(v) is not None for v in cells if v is not None) \
            and any(v is not None for v in cells)
    return columns
