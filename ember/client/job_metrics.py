"""The metrics a pipeline's steps logged, side by side (``ember job show`` of a pipeline).

Each step's value is the latest of each metric of its MLflow run (the run of the job that ran:
a reused step's own run has none, so its source job's). A nested pipeline step (an evaluation
or fine-tuning pipeline component) shows what its own steps logged, merged; sweep steps are left
out (their trials are in ``job show`` of the sweep).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.client.mlclient import MLClient

MAX_DEPTH = 8


def run_metrics(client: MLClient, run_id: str) -> dict[str, float]:
    """The latest value of each metric of MLflow run ``run_id`` (a job's name)."""
    http = client._http
    body = http.json("GET", f"/workspaces/{http.workspace}/api/2.0/mlflow/runs/get",
                     params={"run_id": run_id})
    metrics = ((body.get("run") or {}).get("data") or {}).get("metrics") or []
    return {m["key"]: m["value"] for m in metrics}


def step_metrics(client: MLClient, name: str, depth: int = 0) -> dict[str, dict[str, float]]:
    """``{step: {metric: value}}`` for the steps of pipeline ``name`` that logged metrics, in
    step order."""
    out: dict[str, dict[str, float]] = {}
    for row in client.jobs.steps(name):
        job_name = row.get("job")
        if not job_name:
            continue
        job = client.jobs.get(job_name)
        if job.type == "pipeline" and depth < MAX_DEPTH:
            merged: dict[str, float] = {}
            for values in step_metrics(client, job_name, depth + 1).values():
                merged.update(values)
            found = merged
        elif job.type in ("command", ""):
            found = run_metrics(client, row.get("reused_from") or job_name)
        else:
            continue
        if found:
            out[str(row["step"])] = found
    return out


def metrics_table(by_step: dict[str, dict[str, float]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (one per metric, a column per step) and the columns, for a side-by-side table."""
    steps = list(by_step)
    names: list[str] = []
    for values in by_step.values():
        names.extend(k for k in values if k not in names)
    rows = [{"metric": metric, **{s: _short(by_step[s].get(metric)) for s in steps}}
            for metric in names]
    return rows, ["metric", *steps]


def _short(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
