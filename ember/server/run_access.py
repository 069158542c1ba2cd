"""Which MLflow runs a job's token may write: its own run (run id = job name), the runs its
token names (a fine-tuning training writes its parent job's run), and runs nested under one of
those (``mlflow.parentRunId``). People's tokens go by their roles alone; a deployment's token
writes no run (it exports traces only)."""

from __future__ import annotations

from ember.entities.auth import Principal
from ember.errors import PermissionDeniedError
from ember.server.deps import WorkspaceContext

PARENT_TAG = "mlflow.parentRunId"


def _own(p: Principal, run_id: str | None) -> bool:
    return run_id is not None and (run_id == p.subject or f"run:{run_id}" in p.grants)


async def check_run_write(ctx: WorkspaceContext, run_id: str) -> None:
    """Raise PermissionDeniedError unless the caller may write run ``run_id``; costs nothing
    for people's tokens and for a job writing its own run (the hot path)."""
    p = ctx.principal
    if not p.is_workload or (p.kind == "job" and _own(p, run_id)):
        return
    if p.kind == "job":
        run = await ctx.run(ctx.platform.tracking.get_run, ctx.name, run_id)
        if _own(p, run.tags.get(PARENT_TAG)):
            return
    raise PermissionDeniedError(f"{p.describe()} may write only its own run, not run "
                                f"{run_id!r}")


def check_run_create(ctx: WorkspaceContext, tags: dict[str, str]) -> None:
    """A job's token makes only runs nested under its own (``mlflow.start_run(nested=True)``)."""
    p = ctx.principal
    if p.is_workload and not (p.kind == "job" and _own(p, tags.get(PARENT_TAG))):
        raise PermissionDeniedError(f"{p.describe()} may create only runs nested under its "
                                    "own run")


async def check_artifact_write(ctx: WorkspaceContext, path: str) -> None:
    """An artifact path ``<experiment>/<run>/artifacts/...`` is its run's; logged models'
    (``<experiment>/models/...``) and traces' are the experiment's."""
    p = ctx.principal
    if not p.is_workload:
        return
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] not in ("models", "traces") and parts[2] == "artifacts":
        await check_run_write(ctx, parts[1])
    elif p.kind != "job":
        raise PermissionDeniedError(f"{p.describe()} may not write artifacts")
