"""The MLflow tracking REST protocol (``/api/2.0/mlflow/...``), as the mlflow client calls it.

Mounted at the root (workspace ``default``) and under ``/workspaces/{workspace}``. Bodies are
decoded with orjson and parsed by ``ember.tracking.wire``; database work runs in the threadpool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from ember.entities.auth import READ, WRITE
from ember.server.deps import TRACKING, WorkspaceContext, check_access, declare
from ember.server.run_access import check_run_create, check_run_write
from ember.tracking import validation, wire
from ember.entities.tracking import ViewType

router = APIRouter(tags=["mlflow"])
P = "/api/2.0/mlflow"
# The newest client this server was checked against; must parse as >= 3.4 for trace logging.
MLFLOW_COMPAT_VERSION = "3.17.2"
_VIEW_TYPES = {1: ViewType.ACTIVE_ONLY, 2: ViewType.DELETED_ONLY, 3: ViewType.ALL}
_EMPTY = b"{}"



def ok(data: Any = None) -> Response:
    return Response(wire.dumps(data) if data is not None else _EMPTY,
                    media_type="application/json")


async def body_of(request: Request) -> dict[str, Any]:
    return wire.loads(await request.body())


def query(request: Request) -> dict[str, Any]:
    return dict(request.query_params)


def view_type(value: Any) -> str:
    if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit()):
        return _VIEW_TYPES.get(int(value), ViewType.ACTIVE_ONLY)
    return value if value in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL) \
        else ViewType.ACTIVE_ONLY


def paged(name: str, items: list[Any], next_offset: int | None) -> Response:
    out: dict[str, Any] = {name: items}
    token = wire.offset_token(next_offset)
    if token:
        out["next_page_token"] = token
    return ok(out)


# --- logging: first, since routes match in order and these are the hot paths ---

@router.post(f"{P}/runs/log-batch", **declare(WRITE, workload=TRACKING))
async def log_batch(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    raw = await request.body()
    validation.check_batch_request_size(len(raw))
    b = wire.loads(raw)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.log_batch, ctx.name, wire.run_id(b), wire.metrics(b),
               wire.key_values(b, "params"), wire.key_values(b, "tags"))
    return ok()


@router.post(f"{P}/runs/log-metric", **declare(WRITE, workload=TRACKING))
async def log_metric(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.log_metric, ctx.name, wire.run_id(b), wire.metric(b, ""))
    return ok()


@router.post(f"{P}/runs/log-parameter", **declare(WRITE, workload=TRACKING))
async def log_param(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.log_param, ctx.name, wire.run_id(b), b.get("key"),
               b.get("value"))
    return ok()


@router.post(f"{P}/runs/set-tag", **declare(WRITE, workload=TRACKING))
async def set_tag(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.set_tag, ctx.name, wire.run_id(b), b.get("key"),
               b.get("value"))
    return ok()


# --- server facts ---

@router.get("/version", response_class=PlainTextResponse)
def version(_ctx: WorkspaceContext = Depends(check_access)) -> PlainTextResponse:
    return PlainTextResponse(MLFLOW_COMPAT_VERSION)


@router.get("/api/3.0/mlflow/server-info")
def server_info(_ctx: WorkspaceContext = Depends(check_access)) -> Response:
    return ok({"store_type": "SqlStore", "workspaces_enabled": False,
               "multipart_uploads_enabled": False, "multipart_downloads_enabled": False})


# --- experiments ---

@router.post(f"{P}/experiments/create", **declare(WRITE, workload=TRACKING))
async def create_experiment(request: Request,
                            ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    exp_id = await ctx.run(ctx.platform.tracking.create_experiment, ctx.name, b.get("name"),
                        wire.text(b, "artifact_location"), wire.key_values(b, "tags"))
    return ok({"experiment_id": exp_id})


@router.get(f"{P}/experiments/get")
async def get_experiment(request: Request,
                         ctx: WorkspaceContext = Depends(check_access)) -> Response:
    exp = await ctx.run(ctx.platform.tracking.get_experiment, ctx.name,
                     request.query_params.get("experiment_id"))
    return ok({"experiment": wire.experiment_json(exp)})


@router.get(f"{P}/experiments/get-by-name")
async def get_experiment_by_name(request: Request,
                                 ctx: WorkspaceContext = Depends(check_access)) -> Response:
    exp = await ctx.run(ctx.platform.tracking.get_experiment_by_name, ctx.name,
                     request.query_params.get("experiment_name"))
    return ok({"experiment": wire.experiment_json(exp)})


@router.get(f"{P}/experiments/search")
@router.post(f"{P}/experiments/search", **declare(READ))
async def search_experiments(request: Request,
                             ctx: WorkspaceContext = Depends(check_access)) -> Response:
    if request.method == "GET":
        b: dict[str, Any] = query(request)
        b["order_by"] = request.query_params.getlist("order_by")
    else:
        b = await body_of(request)
    page = await ctx.run(ctx.platform.tracking.search_experiments, ctx.name,
                      view_type=view_type(b.get("view_type")),
                      max_results=wire.integer(b, "max_results"),
                      filter_string=wire.text(b, "filter"), order_by=wire.items(b, "order_by"),
                      offset=wire.token_offset(wire.text(b, "page_token")))
    return paged("experiments", [wire.experiment_json(e) for e in page.items], page.next_offset)


@router.post(f"{P}/experiments/update")
async def update_experiment(request: Request,
                            ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.rename_experiment, ctx.name, b.get("experiment_id"),
               b.get("new_name"))
    return ok()


@router.post(f"{P}/experiments/delete")
async def delete_experiment(request: Request,
                            ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.delete_experiment, ctx.name, b.get("experiment_id"))
    return ok()


@router.post(f"{P}/experiments/restore")
async def restore_experiment(request: Request,
                             ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.restore_experiment, ctx.name, b.get("experiment_id"))
    return ok()


@router.post(f"{P}/experiments/set-experiment-tag")
async def set_experiment_tag(request: Request,
                             ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.set_experiment_tag, ctx.name, b.get("experiment_id"),
               b.get("key"), b.get("value"))
    return ok()


@router.post(f"{P}/experiments/delete-experiment-tag")
async def delete_experiment_tag(request: Request,
                                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.delete_experiment_tag, ctx.name, b.get("experiment_id"),
               b.get("key"))
    return ok()


# --- runs ---

@router.post(f"{P}/runs/create", **declare(WRITE, workload=TRACKING))
async def create_run(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    check_run_create(ctx, {str(k): str(v) for k, v in wire.key_values(b, "tags")})
    run = await ctx.run(ctx.platform.tracking.create_run, ctx.name,
                     experiment_id=b.get("experiment_id"), user_id=wire.text(b, "user_id") or "",
                     run_name=wire.text(b, "run_name") or "",
                     start_time=wire.integer(b, "start_time"), tags=wire.key_values(b, "tags"))
    return ok({"run": wire.run_json(run)})


@router.get(f"{P}/runs/get")
async def get_run(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    run = await ctx.run(ctx.platform.tracking.get_run, ctx.name, wire.run_id(query(request)))
    return ok({"run": wire.run_json(run)})


@router.post(f"{P}/runs/update", **declare(WRITE, workload=TRACKING))
async def update_run(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    info = await ctx.run(ctx.platform.tracking.update_run, ctx.name, wire.run_id(b),
                      status=wire.text(b, "status"), end_time=wire.integer(b, "end_time"),
                      run_name=wire.text(b, "run_name"))
    return ok({"run_info": wire.run_info_json(info)})


@router.post(f"{P}/runs/delete")
async def delete_run(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.delete_run, ctx.name, wire.run_id(b))
    return ok()


@router.post(f"{P}/runs/restore")
async def restore_run(request: Request,
                      ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.tracking.restore_run, ctx.name, wire.run_id(b))
    return ok()


@router.post(f"{P}/runs/search", **declare(READ))
async def search_runs(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    page = await ctx.run(ctx.platform.tracking.search_runs, ctx.name, wire.items(b, "experiment_ids"),
                      filter_string=wire.text(b, "filter"),
                      view_type=view_type(b.get("run_view_type")),
                      max_results=wire.integer(b, "max_results"),
                      order_by=wire.items(b, "order_by"),
                      offset=wire.token_offset(wire.text(b, "page_token")))
    return paged("runs", [wire.run_json(r) for r in page.items], page.next_offset)


@router.post(f"{P}/runs/delete-tag", **declare(WRITE, workload=TRACKING))
async def delete_tag(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.delete_tag, ctx.name, wire.run_id(b), b.get("key"))
    return ok()


@router.post(f"{P}/runs/log-inputs", **declare(WRITE, workload=TRACKING))
async def log_inputs(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.log_inputs, ctx.name, wire.run_id(b),
               wire.dataset_inputs(b), wire.model_ids(b))
    return ok()


@router.post(f"{P}/runs/outputs", **declare(WRITE, workload=TRACKING))
async def log_outputs(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.log_outputs, ctx.name, wire.run_id(b),
               wire.model_outputs(b))
    return ok()


@router.post(f"{P}/runs/log-model", **declare(WRITE, workload=TRACKING))
async def log_model(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await check_run_write(ctx, wire.run_id(b))
    await ctx.run(ctx.platform.tracking.record_logged_model, ctx.name, wire.run_id(b),
               wire.text(b, "model_json", required=True))
    return ok()


# --- metrics and run artifacts ---

@router.get(f"{P}/metrics/get-history")
async def get_metric_history(request: Request,
                             ctx: WorkspaceContext = Depends(check_access)) -> Response:
    q = query(request)
    key = q.get("metric_key")

    def history() -> bytes:
        points, cursor = ctx.platform.tracking.get_metric_history(
            ctx.name, wire.run_id(q), key, max_results=wire.integer(q, "max_results"),
            after=wire.token_cursor(q.get("page_token")))
        return wire.history_json(key or "", points, wire.cursor_token(cursor))

    return Response(await ctx.run(history), media_type="application/json")


@router.get(f"{P}/metrics/get-history-bulk-interval")
async def get_metric_history_bulk_interval(
        request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    q = query(request)
    key = wire.text(q, "metric_key", required=True) or ""

    def bulk() -> bytes:
        points = ctx.platform.tracking.get_metric_history_bulk_interval(
            ctx.name, request.query_params.getlist("run_ids"), key,
            start_step=wire.integer(q, "start_step"), end_step=wire.integer(q, "end_step"),
            max_results=wire.integer(q, "max_results"))
        return wire.bulk_history_json(key, points)

    return Response(await ctx.run(bulk), media_type="application/json")


@router.get(f"{P}/artifacts/list")
async def list_run_artifacts(request: Request,
                             ctx: WorkspaceContext = Depends(check_access)) -> Response:
    q = query(request)
    root, files = await ctx.run(ctx.platform.tracking.list_run_artifacts, ctx.name,
                             wire.run_id(q), q.get("path") or "")
    return ok({"root_uri": root, "files": [
        {"path": f.path, "is_dir": f.is_dir, **({} if f.is_dir else {"file_size": f.file_size})}
        for f in files]})
