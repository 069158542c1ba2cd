"""MLflow 3 traces: ``POST /v1/traces`` (OTLP, how a 3.4+ client sends spans) and the
``/api/3.0/mlflow/traces`` routes the client reads and manages traces with.

Mounted with the other MLflow routes: under ``/workspaces/{workspace}`` and, for workspace
``default``, at the root.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ember.errors import InvalidInputError
from ember.entities.auth import READ, WRITE
from ember.server.deps import TRACKING, WorkspaceContext, check_access, declare
from ember.server.routes.mlflow_tracking import body_of, ok, paged
from ember.tracking import otlp, wire
from ember.tracking.traces import experiment_of_location, trace_info_json, trace_json

router = APIRouter(tags=["mlflow"])
T2 = "/api/2.0/mlflow/traces"
T3 = "/api/3.0/mlflow/traces"
EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"


@router.post("/v1/traces", **declare(WRITE, workload=TRACKING))
async def export_traces(request: Request,
                        ctx: WorkspaceContext = Depends(check_access)) -> Response:
    """OTLP/HTTP trace export (protobuf or JSON); the experiment comes in a header."""
    experiment_id = request.headers.get(EXPERIMENT_HEADER)
    if not experiment_id:
        raise InvalidInputError(f"the {EXPERIMENT_HEADER} header is required: the experiment "
                                "the spans belong to")
    content_type = request.headers.get("content-type")
    raw = await request.body()
    spans = await ctx.run(otlp.parse_request, raw, content_type,
                          request.headers.get("content-encoding"))
    await ctx.run(ctx.platform.traces.log_spans, ctx.name, experiment_id, spans,
                  request.headers.get(RUN_HEADER) or None)
    # An ExportTraceServiceResponse with nothing rejected, in the request's encoding.
    if (content_type or "").split(";")[0].strip().lower() == otlp.JSON:
        return Response(b"{}", media_type=otlp.JSON)
    return Response(b"", media_type=otlp.PROTOBUF)


@router.post(T3, **declare(WRITE, workload=TRACKING))
async def start_trace(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    info = await ctx.run(ctx.platform.traces.start_trace, ctx.name, b)
    return ok({"trace": {"trace_info": trace_info_json(info)}})


@router.post(f"{T3}/search", **declare(READ))
async def search_traces(request: Request,
                        ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    experiments: list[Any] = [experiment_of_location(loc) for loc in wire.items(b, "locations")]
    experiments += wire.items(b, "experiment_ids")
    page = await ctx.run(ctx.platform.traces.search, ctx.name, experiments,
                         filter_string=wire.text(b, "filter"),
                         order_by=wire.items(b, "order_by"),
                         max_results=wire.integer(b, "max_results"),
                         offset=wire.token_offset(wire.text(b, "page_token")))
    return paged("traces", [trace_info_json(i) for i in page.items], page.next_offset)


@router.get(f"{T3}/batchGet")
async def batch_get_traces(request: Request,
                           ctx: WorkspaceContext = Depends(check_access)) -> Response:
    q = request.query_params
    traces = await ctx.run(ctx.platform.traces.batch_get, ctx.name, q.getlist("trace_ids"),
                           q.getlist("experiment_ids"))
    return ok({"traces": [trace_json(info, spans) for info, spans in traces]})


@router.post(f"{T3}/batchGetInfos", **declare(READ))
async def batch_get_trace_infos(request: Request,
                                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    infos = await ctx.run(ctx.platform.traces.batch_get_infos, ctx.name,
                          wire.items(b, "trace_ids"), wire.items(b, "experiment_ids"))
    return ok({"trace_infos": [trace_info_json(i) for i in infos]})


@router.get(f"{T3}/get")
async def get_trace(request: Request, ctx: WorkspaceContext = Depends(check_access)) -> Response:
    info, spans = await ctx.run(ctx.platform.traces.get_trace, ctx.name,
                                request.query_params.get("trace_id"))
    return ok({"trace": trace_json(info, spans)})


@router.post(f"{T2}/delete-traces")
@router.post(f"{T3}/delete-traces")
async def delete_traces(request: Request,
                        ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    count = await ctx.run(ctx.platform.traces.delete_traces, ctx.name, b.get("experiment_id"),
                          trace_ids=wire.items(b, "request_ids") or None,
                          max_timestamp_ms=wire.integer(b, "max_timestamp_millis"),
                          max_traces=wire.integer(b, "max_traces"))
    return ok({"traces_deleted": count})


@router.patch(T2 + "/{trace_id}/tags")
@router.patch(T3 + "/{trace_id}/tags")
async def set_trace_tag(trace_id: str, request: Request,
                        ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    await ctx.run(ctx.platform.traces.set_tag, ctx.name, trace_id, b.get("key"), b.get("value"))
    return ok()


@router.delete(T2 + "/{trace_id}/tags")
@router.delete(T3 + "/{trace_id}/tags")
async def delete_trace_tag(trace_id: str, request: Request,
                           ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await body_of(request)
    key = b.get("key", request.query_params.get("key"))
    await ctx.run(ctx.platform.traces.delete_tag, ctx.name, trace_id, key)
    return ok()


# Last: it would otherwise take "batchGet" and "get" for trace ids.
@router.get(T3 + "/{trace_id}")
async def get_trace_info(trace_id: str,
                         ctx: WorkspaceContext = Depends(check_access)) -> Response:
    info = await ctx.run(ctx.platform.traces.get_trace_info, ctx.name, trace_id)
    return ok({"trace": {"trace_info": trace_info_json(info)}})
