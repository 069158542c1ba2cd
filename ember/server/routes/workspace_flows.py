"""A workspace's prompt flows (``/flows``): the studio's flow authoring. A flow is a folder of
files kept by the server (``engine/workspace_flows.py``); ``flow.dag.yaml`` changes are checked
before they are stored, node files are confined to the flow's folder, and a run is a flow-run
job (its per-line outputs in the job's ``flow_outputs``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.jobs import JobOut
from ember.server.schemas.workspace_flows import (
    FileIn,
    FlowIn,
    FlowOut,
    FlowRunIn,
    FlowSummaryOut,
    NodeIn,
    NodeUpdate,
)

router = APIRouter(tags=["flows"])
F = "/flows"


@router.post(F, status_code=201)
async def create_flow(body: FlowIn, ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.create, ctx.name, body.name,
                                    body.files, body.template))


@router.get(F)
async def list_flows(ctx: WorkspaceContext = Depends(check_access)) -> list[FlowSummaryOut]:
    return [FlowSummaryOut(name=n)
            for n in await ctx.run(ctx.platform.workspace_flows.list, ctx.name)]


@router.get(F + "/{name}")
async def get_flow(name: str, ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    """The flow's files (path → size), ``flow.dag.yaml``'s text and its graph: inputs,
    outputs, nodes (with variants and activate conditions) and edges (from ``${...}``)."""
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.get, ctx.name, name))


@router.delete(F + "/{name}", status_code=204)
async def delete_flow(name: str, ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.workspace_flows.delete, ctx.name, name)


@router.get(F + "/{name}/files/{path:path}")
async def read_flow_file(name: str, path: str,
                         ctx: WorkspaceContext = Depends(check_access)) -> Response:
    data = await ctx.run(ctx.platform.workspace_flows.read_file, ctx.name, name, path)
    return Response(data, media_type="text/plain; charset=utf-8")


@router.put(F + "/{name}/files/{path:path}")
async def write_flow_file(name: str, path: str, body: FileIn,
                          ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    """Create or replace a file (at most 1 MiB); a new ``flow.dag.yaml`` must load."""
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.write_file, ctx.name, name,
                                    path, body.content))


@router.delete(F + "/{name}/files/{path:path}")
async def delete_flow_file(name: str, path: str,
                           ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.delete_file, ctx.name, name,
                                    path))


@router.post(F + "/{name}/nodes", status_code=201)
async def add_node(name: str, body: NodeIn,
                   ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.add_node, ctx.name, name,
                                    body.name, body.type, body.inputs, body.source, body.code))


@router.patch(F + "/{name}/nodes/{node}")
async def update_node(name: str, node: str, body: NodeUpdate,
                      ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.update_node, ctx.name, name,
                                    node, body.inputs, body.activate, body.variant))


@router.delete(F + "/{name}/nodes/{node}")
async def remove_node(name: str, node: str,
                      ctx: WorkspaceContext = Depends(check_access)) -> FlowOut:
    return FlowOut.of(await ctx.run(ctx.platform.workspace_flows.remove_node, ctx.name, name,
                                    node))


@router.post(F + "/{name}/runs", status_code=201)
async def run_flow(name: str, body: FlowRunIn,
                   ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    """Submit a run of the flow as a flow-run job (queued; poll ``/jobs/<name>``)."""
    return JobOut.of(await ctx.run(
        ctx.platform.workspace_flows.run, ctx.name, name, lines=body.lines, data=body.data,
        base_run=body.run, column_mapping=body.column_mapping, variant=body.variant,
        display_name=body.display_name, tags=body.tags))
