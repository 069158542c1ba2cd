"""The prompt flow pages: the workspace's flows (``/ws/<ws>/flows``), a flow drawn as a graph
with its node editor and test runs (``/ws/<ws>/flows/<flow>?node=<node>``), and its batch and
evaluation runs side by side (``/ws/<ws>/flows/<flow>/runs?run=a&run=b``). Flows are read and
changed through ``/flows`` of the REST API; a test run is a one-line flow-run job, never the
flow's code run in this process (``static/flows.js``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from ember.errors import NotFoundError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.pages._flow_graph import svg
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
NAV = [NavItem("Prompt flow", "/flows", 70)]
FLOW_RUN = "ember.flow_run"
WORKSPACE_FLOW = "ember.workspace_flow"
OUTPUT = "flow_outputs"
MAX_COMPARED = 4
MAX_LINES_SHOWN = 200


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return json.dumps(value)


@router.get("/ws/{workspace}/flows")
async def flow_list(request: Request, workspace: str, session: Session = Depends(page_session),
                    api: StudioApi = Depends(studio_api)) -> Response:
    flows = await api.get(api.ws("/flows"))
    return render(request, session, "flows/list.html", title="Prompt flow", flows=flows,
                  can_write=may(request, session, workspace, "write"))


@router.get("/ws/{workspace}/flows/{flow}")
async def flow_page(request: Request, workspace: str, flow: str, node: str | None = None,
                    variant: str | None = None, session: Session = Depends(page_session),
                    api: StudioApi = Depends(studio_api)) -> Response:
    found = await api.get(api.ws(f"/flows/{quote(flow)}"))
    link = f"/ws/{quote(workspace)}/flows/{quote(flow)}?node="
    selected = next((n for n in found["nodes"] if n["name"] == node), None)
    if node and selected is None:
        raise NotFoundError(f"flow {flow!r} has no node {node!r}")
    body: dict[str, Any] = {}
    if selected is not None:
        # a node with variants: the chosen variant's body (the default one unless the URL
        # names another), edited on its own
        variant = variant or selected.get("default_variant")
        bodies = selected.get("variant_bodies") or {}
        if selected.get("variants") and variant not in bodies:
            raise NotFoundError(f"node {node!r} has no variant {variant!r}")
        body = bodies.get(variant) or {"inputs": selected["inputs"],
                                       "source": selected.get("source")}
        if not selected.get("variants"):
            variant = None
    code = None
    if body.get("source") and body["source"] in found["files"]:
        code = _text(await api.get(api.ws(
            f"/flows/{quote(flow)}/files/{quote(body['source'])}")))
    title = f"{flow} · {node}" if node else flow
    return render(request, session, "flows/flow.html", title=title, flow=found,
                  graph=svg(found, link, node) if not found["error"] else None,
                  node=selected, body=body, variant=variant, code=code,
                  can_write=may(request, session, workspace, "write"))


async def _run_file(api: StudioApi, run: str, path: str) -> str | None:
    try:
        return _text(await api.get(api.ws(f"/jobs/{quote(run)}/files/{path}"), output=OUTPUT))
    except NotFoundError:
        return None


@router.get("/ws/{workspace}/flows/{flow}/files/{path:path}")
async def flow_file(request: Request, workspace: str, flow: str, path: str,
                    session: Session = Depends(page_session),
                    api: StudioApi = Depends(studio_api)) -> Response:
    """One file of the flow in an editor: flow.dag.yaml itself (LLM nodes, activate
    conditions, variants: everything the node form does not cover), or a node's file."""
    found = await api.get(api.ws(f"/flows/{quote(flow)}"))
    text = _text(await api.get(api.ws(f"/flows/{quote(flow)}/files/{quote(path)}")))
    return render(request, session, "flows/file.html", title=f"{flow} · {path}", flow=found,
                  file=path, text=text, can_write=may(request, session, workspace, "write"))


@router.get("/ws/{workspace}/flows/{flow}/runs")
async def flow_runs(request: Request, workspace: str, flow: str,
                    run: list[str] = Query(default=[]),
                    session: Session = Depends(page_session),
                    api: StudioApi = Depends(studio_api)) -> Response:
    found = await api.get(api.ws(f"/flows/{quote(flow)}"))
    jobs = await api.get(api.ws("/jobs"), max_results=500)
    flow_jobs = [j for j in jobs if (j.get("properties") or {}).get(FLOW_RUN) == "true"]
    runs = [j for j in flow_jobs if j["properties"].get(WORKSPACE_FLOW) == flow]
    chosen = [r for r in run if r][:MAX_COMPARED]
    compared: list[dict[str, Any]] = []
    for name in chosen:
        job = await api.get(api.ws(f"/jobs/{quote(name)}"))
        details = await _run_file(api, name, "details.jsonl") or ""
        metrics = await _run_file(api, name, "metrics.json")
        lines = [json.loads(x) for x in details.splitlines() if x.strip()]
        metric_values = json.loads(metrics) if metrics else {}
        # the metrics of the runs that evaluated this one, beside its own
        for ev in flow_jobs:
            if ev["properties"].get("ember.flow_base_run") != name or ev["status"] != "Completed":
                continue
            found_metrics = await _run_file(api, ev["name"], "metrics.json")
            evaluator = ev["properties"].get(WORKSPACE_FLOW) or ev.get("experiment_name") or ""
            for key, value in (json.loads(found_metrics) if found_metrics else {}).items():
                metric_values[f"{evaluator}.{key}"] = value
        compared.append({"name": name, "status": job["status"],
                         "display_name": job.get("display_name") or name,
                         "variant": (job.get("properties") or {}).get("ember.flow_variant"),
                         "base": (job.get("properties") or {}).get("ember.flow_base_run"),
                         "lines": {d["line_number"]: d for d in lines[:MAX_LINES_SHOWN]},
                         "metrics": metric_values})
    numbers = sorted({n for c in compared for n in c["lines"]})
    line_inputs = {n: next(c["lines"][n].get("inputs") for c in compared if n in c["lines"])
                   for n in numbers}
    output_keys: list[str] = []
    for c in compared:
        for d in c["lines"].values():
            for k in d.get("outputs") or {}:
                if k not in output_keys:
                    output_keys.append(k)
    metric_keys = sorted({k for c in compared for k in c["metrics"]})
    variants = [f"${{{n['name']}.{v}}}" for n in found["nodes"] for v in n.get("variants", [])]
    data = await api.get(api.ws("/data"))
    return render(request, session, "flows/runs.html", title=f"{flow} · runs", flow=found,
                  runs=runs, chosen=chosen, compared=compared, numbers=numbers,
                  line_inputs=line_inputs,
                  output_keys=output_keys, metric_keys=metric_keys, variants=variants,
                  assets=[d for d in data if d.get("type") in ("uri_file", "uri_folder")],
                  all_runs=flow_jobs,
                  can_write=may(request, session, workspace, "write"))
