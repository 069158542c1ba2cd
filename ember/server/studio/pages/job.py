"""One job's pages (``/ws/<ws>/jobs/<name>`` and its tabs): Overview, Metrics, Outputs +
logs, Child jobs, and a pipeline's Graph or a sweep's Trials. Each tab is its own URL; every
tab reads the job and its tab's data through the REST API (``StudioApi``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.entities.auth import WRITE
from ember.errors import NotFoundError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.pages import _job_files as job_files
from ember.server.studio.pages import _job_svg as job_svg
from ember.server.studio.render import render
from ember.server.studio.session import Session, may, page_session

router = studio_router()

# Statuses a cancel no longer changes.
_ENDED = frozenset({"Completed", "Failed", "Canceled", "CancelRequested"})
METRIC_POINTS = 1000     # per metric: about twice a chart's width in pixels
LOG_TAIL_BYTES = 64 << 10


@dataclass(frozen=True)
class Tab:
    label: str
    slug: str


def tabs_of(job: dict[str, Any]) -> list[Tab]:
    tabs = [Tab("Overview", ""), Tab("Metrics", "metrics"), Tab("Outputs + logs", "outputs")]
    if job["type"] == "pipeline":
        tabs.append(Tab("Graph", "graph"))
    if job["type"] == "sweep":
        tabs.append(Tab("Trials", "trials"))
    if job["type"] in ("pipeline", "sweep"):
        tabs.append(Tab("Child jobs", "children"))
    return tabs


def _page(request: Request, session: Session, workspace: str, job: dict[str, Any], tab: str,
          template: str, **context: Any) -> Response:
    tabs = tabs_of(job)
    can_cancel = job["status"] not in _ENDED and may(request, session, workspace, WRITE)
    label = next(t.label for t in tabs if t.slug == tab)
    return render(request, session, template,
                  title=f"{job.get('display_name') or job['name']} · {label}",
                  job=job, tabs=tabs, tab=tab, can_cancel=can_cancel,
                  base=job_svg.job_href(workspace, job["name"]), **context)


async def _job(api: StudioApi, name: str, tab: str) -> dict[str, Any]:
    """The job, once it is known to have ``tab`` (a command job has no graph: 404)."""
    job: dict[str, Any] = await api.get(api.ws(f"/jobs/{quote(name)}"))
    if tab not in {t.slug for t in tabs_of(job)}:
        raise NotFoundError(f"a {job['type']} job has no {tab} tab")
    return job


@router.get("/ws/{workspace}/jobs/{name}")
async def overview(request: Request, workspace: str, name: str,
                   session: Session = Depends(page_session),
                   api: StudioApi = Depends(studio_api)) -> Response:
    job = await _job(api, name, "")
    lineage = await api.get(api.ws(f"/jobs/{quote(name)}/lineage"))
    timeline = []
    history = job.get("status_history") or []
    for i, change in enumerate(history):
        following = history[i + 1]["time"] if i + 1 < len(history) else None
        timeline.append({**change, "lasted": (following - change["time"])
                         if following is not None else None})
    return _page(request, session, workspace, job, "", "job/overview.html",
                 timeline=timeline,
                 inputs=job_files.input_rows(workspace, job, lineage),
                 outputs=job_files.output_rows(workspace, job, lineage))


@router.get("/ws/{workspace}/jobs/{name}/metrics")
async def metrics(request: Request, workspace: str, name: str,
                  session: Session = Depends(page_session),
                  api: StudioApi = Depends(studio_api)) -> Response:
    job = await _job(api, name, "metrics")
    data = await api.get(api.ws(f"/jobs/{quote(name)}/metrics"), max_points=METRIC_POINTS)
    return _page(request, session, workspace, job, "metrics", "job/metrics.html",
                 series=data["metrics"], max_points=METRIC_POINTS,
                 start_ms=(job.get("start_time") or job["creation_time"]) * 1000)


@router.get("/ws/{workspace}/jobs/{name}/outputs")
async def outputs(request: Request, workspace: str, name: str, output: str = "default",
                  path: str = "", session: Session = Depends(page_session),
                  api: StudioApi = Depends(studio_api)) -> Response:
    job = await _job(api, name, "outputs")
    names = ["default", *[o for o in job.get("outputs") or {} if o != "default"]]
    files = await api.get(api.ws(f"/jobs/{quote(name)}/files"), output=output)
    viewer = None
    if path:
        size = next((f["size"] for f in files if f["path"] == path), None)
        head = await api.get(api.ws(f"/jobs/{quote(name)}/files/{quote(path)}"), output=output,
                             max_bytes=job_files.VIEW_BYTES)
        viewer = job_files.view(path, head or b"", size)
    log = await api.request("GET", api.ws(f"/jobs/{quote(name)}/logs"),
                            params={"offset": 0, "max_bytes": LOG_TAIL_BYTES})
    return _page(request, session, workspace, job, "outputs", "job/outputs.html",
                 output=output, outputs=names, files=files, file_path=path,
                 viewer=viewer, download=job_files.download_href(
                     workspace, name, output, path) if path else "",
                 file_href=lambda p: job_files.file_href(workspace, name, output, p),
                 log=(log or b"").decode("utf-8", "replace"),
                 log_offset=len(log or b""))


@router.get("/ws/{workspace}/jobs/{name}/children")
async def children(request: Request, workspace: str, name: str,
                   session: Session = Depends(page_session),
                   api: StudioApi = Depends(studio_api)) -> Response:
    job = await _job(api, name, "children")
    rows = await api.get(api.ws("/jobs"), parent_job_name=name, max_results=1000)
    rows.sort(key=lambda j: j["creation_time"])
    return _page(request, session, workspace, job, "children", "job/children.html",
                 children=rows)


@router.get("/ws/{workspace}/jobs/{name}/graph")
async def graph(request: Request, workspace: str, name: str,
                session: Session = Depends(page_session),
                api: StudioApi = Depends(studio_api)) -> Response:
    job = await _job(api, name, "graph")
    steps = await api.get(api.ws(f"/jobs/{quote(name)}/steps"))
    kids = {j["name"]: j for j in await api.get(api.ws("/jobs"), parent_job_name=name,
                                                   max_results=1000)}
    rows = []
    for s in steps:
        child = kids.get(s["job"] or "", {})
        rows.append({**s, "start": child.get("start_time"), "end": child.get("end_time")})
    return _page(request, session, workspace, job, "graph", "job/graph.html",
                 steps=rows, svg=job_svg.step_graph(workspace, steps),
                 gantt=job_svg.gantt(workspace, rows, time.time()))


@router.get("/ws/{workspace}/jobs/{name}/trials")
async def trials(request: Request, workspace: str, name: str,
                 session: Session = Depends(page_session),
                 api: StudioApi = Depends(studio_api)) -> Response:
    job = await _job(api, name, "trials")
    rows = await api.get(api.ws(f"/jobs/{quote(name)}/trials"))
    objective = ((job.get("definition") or {}).get("objective") or {})
    params = sorted({k for t in rows for k in t.get("parameters") or {}})
    best = next((t for t in rows if t.get("best")), None)
    return _page(request, session, workspace, job, "trials", "job/trials.html",
                 trials=rows, params=params, best=best,
                 metric=objective.get("primary_metric", "objective"),
                 goal=objective.get("goal", ""),
                 chart=job_svg.parallel_coordinates(
                     rows, objective.get("primary_metric", "objective")))
