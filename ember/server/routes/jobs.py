from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from ember.engine import lineage
from ember.entities.finetuning import FineTuningJob
from ember.entities.jobs import JobQuery
from ember.entities.pipelines import PipelineJob
from ember.entities.sweeps import SweepJob
from ember.errors import InvalidInputError
from ember.entities.auth import READ, WRITE
from ember.server.deps import (
    OWN_JOB,
    WorkspaceContext,
    check_access,
    declare,
    submitting_user,
)
from ember.server.schemas.base import BINARY_RESPONSE
from ember.server.schemas.jobs import (
    FileOut,
    JobOut,
    RunnerStatusIn,
    parse_job_body,
    parse_job_update,
)

router = APIRouter(tags=["jobs"])
MAX_LOG_WAIT_SECONDS = 10.0


@router.post("/jobs", status_code=201)
def create_job(body: dict[str, Any] = Body(...),
               ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    """A command job (``JobIn``), a pipeline job (``PipelineIn``, ``type: pipeline``), a sweep
    or a fine-tuning job (their entities' plain form, ``type: sweep`` / ``finetuning``)."""
    job = parse_job_body(body)
    submitter = submitting_user(ctx)
    if isinstance(job, PipelineJob):
        return JobOut.of(ctx.platform.pipelines.create(ctx.name, job, submitter=submitter))
    if isinstance(job, SweepJob):
        return JobOut.of(ctx.platform.sweeps.create(ctx.name, job, submitter=submitter))
    if isinstance(job, FineTuningJob):
        return JobOut.of(ctx.platform.finetuning.create(ctx.name, job, submitter=submitter))
    job.submitter = submitter
    return JobOut.of(ctx.platform.jobs.create(ctx.name, job))


@router.get("/jobs")
def list_jobs(response: Response, parent_job_name: str | None = None, max_results: int = 100,
              include_archived: bool = False, archived_only: bool = False,
              status: list[str] = Query([]), experiment_name: list[str] = Query([]),
              type: list[str] = Query([]), tag: list[str] = Query([]),
              submitter: list[str] = Query([]), created_after: str | None = None,
              created_before: str | None = None, search: str | None = None,
              top_level_only: bool = False, order_by: str = "creation_time desc",
              skip: int = 0, count: bool = False, history: bool = True,
              ctx: WorkspaceContext = Depends(check_access)) -> list[JobOut]:
    """Newest first; archived jobs only with ``include_archived`` or ``archived_only``, except
    for the children of one job (``parent_job_name``), which are archived with it: all shown.

    Filters (several values of one filter, repeated: any of them; ``status`` and ``type`` may
    also be comma-separated): ``status``, ``experiment_name``, ``type``, ``submitter``,
    ``tag`` (``key`` has the tag, ``key=value`` has that value; several: all of them),
    ``created_after`` / ``created_before`` (epoch seconds or ISO 8601; UTC unless the time
    says), ``search`` (a substring of the name, display name, experiment or description, any
    case), ``top_level_only`` (no pipeline steps or sweep trials). ``order_by``: ``<key>
    [asc|desc]``, key one of creation_time, name, display_name, status, type,
    experiment_name, duration, submitter (without a direction: newest and longest first, the
    others A to Z). Paging: ``skip`` jobs, then ``max_results``; with ``count`` the header
    ``X-Ember-Total-Count`` says how many match in all. ``history=false`` leaves each job's
    ``status_history`` empty (cheaper, for lists)."""
    archived = True if archived_only else None if include_archived or parent_job_name \
        else False
    key, _, direction = order_by.strip().partition(" ")
    if direction.strip().lower() not in ("", "asc", "desc"):
        raise InvalidInputError(f"order_by {order_by!r}: the direction is asc or desc")
    query = JobQuery(
        parent_job_name=parent_job_name, top_level_only=top_level_only,
        statuses=_several(status), types=_several(type),
        experiment_names=[e for e in experiment_name if e], submitters=[u for u in submitter if u],
        tags=[_tag_filter(t) for t in tag],
        created_after=_time("created_after", created_after),
        created_before=_time("created_before", created_before),
        search=search or None, archived=archived, order_by=key or "creation_time",
        descending=direction.strip().lower() != "asc" if direction.strip() else
        key in ("", "creation_time", "duration"),
        skip=skip, max_results=max_results)
    jobs, total = ctx.platform.jobs.search(ctx.name, query, count=count, with_history=history)
    if total is not None:
        response.headers["X-Ember-Total-Count"] = str(total)
    return [JobOut.of(j) for j in jobs]


def _several(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _tag_filter(text: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key.strip():
        raise InvalidInputError(f"tag filter {text!r}: give key or key=value")
    return key.strip(), value if sep else None


def _time(name: str, text: str | None) -> float | None:
    """Epoch seconds, or an ISO 8601 date or time (UTC unless it names its zone)."""
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{name} {text!r} is neither epoch seconds nor an ISO 8601 "
                                "time (2026-12-04 or 2026-12-04T19:30:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


@router.get("/jobs/{name}")
def get_job(name: str, ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    return JobOut.of(ctx.platform.jobs.get(ctx.name, name))


@router.patch("/jobs/{name}")
def update_job(name: str, body: dict[str, Any] = Body(...),
               ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    """Change ``display_name``, ``description``, ``tags`` (replaced whole); nothing else."""
    changes = parse_job_update(body)
    return JobOut.of(ctx.platform.jobs.update_metadata(
        ctx.name, name, display_name=changes.display_name, description=changes.description,
        tags=changes.tags))


@router.delete("/jobs/{name}")
def delete_job(name: str, ctx: WorkspaceContext = Depends(check_access)) -> dict[str, Any]:
    """An ended job (with a pipeline's or sweep's children); 409 while it runs."""
    return {"name": name, "deleted": ctx.platform.jobs.delete(ctx.name, name)}


@router.post("/jobs/{name}/archive")
def archive_job(name: str, ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    return JobOut.of(ctx.platform.jobs.archive(ctx.name, name))


@router.post("/jobs/{name}/restore")
def restore_job(name: str, ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    return JobOut.of(ctx.platform.jobs.restore(ctx.name, name))


@router.get("/jobs/{name}/lineage")
def job_lineage(name: str, ctx: WorkspaceContext = Depends(check_access)) -> dict[str, Any]:
    """Each output's producer (the job, or the job it reused) and each input's producer."""
    jobs = ctx.platform.jobs
    return lineage.job_lineage(jobs, ctx.name, jobs.get(ctx.name, name))


@router.get("/jobs/{name}/steps")
def job_steps(name: str, ctx: WorkspaceContext = Depends(check_access)
              ) -> list[dict[str, Any]]:
    """A pipeline's step graph: each step's status, child job, upstream steps and reuse."""
    return ctx.platform.pipelines.steps(ctx.name, name)


@router.get("/jobs/{name}/trials")
def job_trials(name: str, ctx: WorkspaceContext = Depends(check_access)
               ) -> list[dict[str, Any]]:
    """A sweep's trials: status, hyperparameters, objective, the best one marked."""
    return ctx.platform.sweeps.trials(ctx.name, name)


@router.get("/lineage")
def uri_lineage(uri: str, ctx: WorkspaceContext = Depends(check_access)) -> dict[str, Any]:
    """Which job produced ``uri`` (a job output or datastore URI) from which inputs."""
    return {"uri": uri, "produced_by": lineage.producer_of(ctx.platform.jobs, ctx.name, uri)}


@router.post("/jobs/{name}/cancel")
def cancel_job(name: str, ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    return JobOut.of(ctx.platform.jobs.cancel(ctx.name, name))


@router.get("/jobs/{name}/logs", response_class=Response, responses=BINARY_RESPONSE)
def read_logs(name: str, offset: int = 0, max_bytes: int = 1 << 20, wait: float = 0.0,
              ctx: WorkspaceContext = Depends(check_access)) -> Response:
    """Raw log bytes from ``offset``; headers carry the log size and the job status. With
    ``wait`` (seconds, at most 10), a job with nothing new is waited for first."""
    if offset < 0 or max_bytes <= 0:
        raise InvalidInputError("offset must be ≥ 0 and max_bytes > 0")
    if not 0 <= wait <= MAX_LOG_WAIT_SECONDS:
        raise InvalidInputError(f"wait must be between 0 and {MAX_LOG_WAIT_SECONDS} seconds")
    data, size, job = ctx.platform.jobs.read_log(ctx.name, name, offset, min(max_bytes, 8 << 20),
                                                 wait=wait)
    return Response(content=data, media_type="application/octet-stream",
                    headers={"X-Ember-Log-Size": str(size), "X-Ember-Job-Status": job.status})


@router.get("/jobs/{name}/metrics")
def job_metrics(name: str, max_points: int = 1000, key: list[str] | None = Query(None),
                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    """Every metric of the job's run (or each ``key``), downsampled on the server to at most
    ``max_points`` points a metric keeping each bucket's min and max, first and last points
    kept; columns ``step``, ``timestamp`` (ms), ``value`` (null for NaN) and ``total``."""
    job = ctx.platform.jobs.get(ctx.name, name, with_history=False)
    series = ctx.platform.tracking.sampled_metric_histories(
        ctx.name, job.name, max_points=max_points, keys=key)
    body = {"job": job.name, "run_id": job.name, "max_points": max_points, "metrics": [
        {"key": k, "total": total, "step": [p[0] for p in points],
         "timestamp": [p[1] for p in points], "value": [p[2] for p in points]}
        for k, total, points in series]}
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@router.get("/jobs/{name}/files")
def list_files(name: str, output: str = "default",
               ctx: WorkspaceContext = Depends(check_access)) -> list[FileOut]:
    return [FileOut(**f) for f in ctx.platform.jobs.list_files(ctx.name, name, output)]


@router.get("/jobs/{name}/files/{path:path}", response_class=StreamingResponse,
            responses=BINARY_RESPONSE)
def get_file(name: str, path: str, output: str = "default", max_bytes: int | None = None,
             ctx: WorkspaceContext = Depends(check_access)) -> StreamingResponse:
    """The file's bytes; with ``max_bytes``, only its first ``max_bytes`` (a viewer's head
    of a huge file)."""
    if max_bytes is not None and max_bytes <= 0:
        raise InvalidInputError("max_bytes must be > 0")
    fh = ctx.platform.jobs.open_file(ctx.name, name, output, path)

    def chunks():  # type: ignore[no-untyped-def]
        left = max_bytes if max_bytes is not None else -1
        with fh:
            while left and (chunk := fh.read(1 << 20 if left < 0 else min(left, 1 << 20))):
                left -= len(chunk) if left > 0 else 0
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


# --- the runner's side of the protocol ---------------------------------------------------------

@router.post("/jobs/{name}/runner/status", **declare(WRITE, workload=OWN_JOB))
def runner_status(name: str, body: RunnerStatusIn,
                  ctx: WorkspaceContext = Depends(check_access)) -> dict[str, str]:
    job = ctx.platform.jobs.runner_report(ctx.name, name, body.status, error=body.error,
                                          exit_code=body.exit_code)
    return {"status": job.status}


@router.post("/jobs/{name}/runner/logs", **declare(WRITE, workload=OWN_JOB))
async def runner_logs(name: str, request: Request,
                      ctx: WorkspaceContext = Depends(check_access)) -> dict[str, int]:
    offset = int(request.headers.get("X-Ember-Offset", "0"))
    data = await request.body()
    size = await ctx.run(ctx.platform.jobs.append_log, ctx.name, name, offset, data)
    return {"size": size}


@router.post("/jobs/{name}/runner/finalize", **declare(WRITE, workload=OWN_JOB))
def runner_finalize(name: str, ctx: WorkspaceContext = Depends(check_access)) -> dict[str, str]:
    ctx.platform.scheduler.finalize(ctx.name, name)
    return {"status": "ok"}


# Reads, open to whoever may read the workspace's data (a job's token too): not OWN_JOB, which
# guards the runner's reports against forgery.
@router.get("/jobs/{name}/runner/inputs/{input_name}", **declare(READ))
def runner_input_files(name: str, input_name: str,
                       ctx: WorkspaceContext = Depends(check_access)) -> dict[str, Any]:
    """The files of one input, for a runner on another machine (a Ray compute) to download."""
    return ctx.platform.remote_files.list_input(ctx.name, name, input_name)


@router.get("/jobs/{name}/runner/inputs/{input_name}/{path:path}",
            response_class=StreamingResponse, responses=BINARY_RESPONSE, **declare(READ))
def runner_input_file(name: str, input_name: str, path: str,
                      ctx: WorkspaceContext = Depends(check_access)) -> StreamingResponse:
    fh = ctx.platform.remote_files.open_input(ctx.name, name, input_name, path)

    def chunks():  # type: ignore[no-untyped-def]
        with fh:
            while data := fh.read(1 << 20):
                yield data

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.put("/jobs/{name}/runner/outputs/{output_name}/{path:path}",
            **declare(WRITE, workload=OWN_JOB))
async def runner_output_file(name: str, output_name: str, path: str, request: Request,
                             ctx: WorkspaceContext = Depends(check_access)) -> dict[str, str]:
    """One file of a named output, uploaded by a runner on another machine."""
    data = await request.body()
    await ctx.run(ctx.platform.remote_files.put_output, ctx.name, name, output_name, path, data)
    return {"path": path}


@router.put("/jobs/{name}/artifacts/{path:path}", **declare(WRITE, workload=OWN_JOB))
async def put_artifact(name: str, path: str, request: Request,
                       ctx: WorkspaceContext = Depends(check_access)) -> dict[str, str]:
    data = await request.body()
    await ctx.run(ctx.platform.jobs.put_artifact, ctx.name, name, path, data)
    return {"path": path}
