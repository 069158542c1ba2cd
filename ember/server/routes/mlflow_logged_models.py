"""MLflow 3 logged models (``/api/2.0/mlflow/logged-models...``), used by ``log_model``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ember.entities.auth import DELETE, READ, WRITE
from ember.server.deps import TRACKING, WorkspaceContext, check_access, declare
from ember.server.routes.mlflow_tracking import P, body_of, ok, paged
from ember.tracking import wire

router = APIRouter(tags=["mlflow"])
M = f"{P}/logged-models"


@router.post(M, **declare(WRITE, workload=TRACKING))
async def create_logged_model(request: Request,
                              ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    model = await ctx.run(ctx.platform.tracking.create_logged_model, ctx.name,
                       experiment_id=b.get("experiment_id"), name=wire.text(b, "name"),
                       model_type=wire.text(b, "model_type"),
                       source_run_id=wire.text(b, "source_run_id"),
                       params=wire.key_values(b, "params"), tags=wire.key_values(b, "tags"))
    return ok({"model": wire.logged_model_json(model)})


@router.post(f"{M}/search", **declare(READ))
async def search_logged_models(request: Request,
                               ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    order_by = [(str(o.get("field_name", "")), o.get("ascending", True) is not False)
                for o in wire.items(b, "order_by") if isinstance(o, dict)]
    page = await ctx.run(ctx.platform.tracking.search_logged_models, ctx.name,
                      wire.items(b, "experiment_ids"), filter_string=wire.text(b, "filter"),
                      order_by=order_by, max_results=wire.integer(b, "max_results"),
                      offset=wire.token_offset(wire.text(b, "page_token")))
    return paged("models", [wire.logged_model_json(m) for m in page.items], page.next_offset)


@router.get(M + "/{model_id}")
async def get_logged_model(model_id: str, request: Request,
                           ctx: WorkspaceContext = Depends(check_access)) -> Response:
    allow_deleted = wire.boolean(dict(request.query_params), "allow_deleted")
    model = await ctx.run(ctx.platform.tracking.get_logged_model, ctx.name, model_id,
                       allow_deleted=allow_deleted)
    return ok({"model": wire.logged_model_json(model)})


@router.patch(M + "/{model_id}", **declare(WRITE, workload=TRACKING))
async def finalize_logged_model(model_id: str, request: Request,
                                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    model = await ctx.run(ctx.platform.tracking.finalize_logged_model, ctx.name, model_id,
                       b.get("status"))
    return ok({"model": wire.logged_model_json(model)})


@router.delete(M + "/{model_id}")
async def delete_logged_model(model_id: str,
                              ctx: WorkspaceContext = Depends(check_access)) -> Response:
    await ctx.run(ctx.platform.tracking.delete_logged_model, ctx.name, model_id)
    return ok()


@router.patch(M + "/{model_id}/tags", **declare(WRITE, workload=TRACKING))
async def set_logged_model_tags(model_id: str, request: Request,
                                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    model = await ctx.run(ctx.platform.tracking.set_logged_model_tags, ctx.name, model_id,
                       wire.key_values(b, "tags"))
    return ok({"model": wire.logged_model_json(model)})


@router.delete(M + "/{model_id}/tags/{key:path}", **declare(DELETE, workload=TRACKING))
async def delete_logged_model_tag(model_id: str, key: str,
                                  ctx: WorkspaceContext = Depends(check_access)) -> Response:
    await ctx.run(ctx.platform.tracking.delete_logged_model_tag, ctx.name, model_id, key)
    return ok()


@router.post(M + "/{model_id}/params", **declare(WRITE, workload=TRACKING))
async def log_logged_model_params(model_id: str, request: Request,
                                  ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b: dict[str, Any] = await body_of(request)
    await ctx.run(ctx.platform.tracking.log_logged_model_params, ctx.name, model_id,
               wire.key_values(b, "params"))
    return ok()
