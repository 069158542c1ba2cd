"""Batch endpoints (``/batch-endpoints``): CRUD, invoke (``POST .../jobs``), list-jobs."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access, submitting_user
from ember.server.schemas.batch_endpoints import (
    BatchEndpointIn,
    BatchEndpointOut,
    BatchEndpointUpdate,
    InvokeIn,
)
from ember.server.schemas.jobs import JobOut

router = APIRouter(tags=["batch-endpoints"])
B = "/batch-endpoints"


@router.post(B, status_code=201)
async def create_batch_endpoint(body: BatchEndpointIn,
                                ctx: WorkspaceContext = Depends(check_access)
                                ) -> BatchEndpointOut:
    return BatchEndpointOut.of(await ctx.run(ctx.platform.batch_endpoints.create, ctx.name,
                                             body.entity()))


@router.get(B)
async def list_batch_endpoints(ctx: WorkspaceContext = Depends(check_access)
                               ) -> list[BatchEndpointOut]:
    return [BatchEndpointOut.of(e) for e in
            await ctx.run(ctx.platform.batch_endpoints.list, ctx.name)]


@router.get(B + "/{name}")
async def get_batch_endpoint(name: str,
                             ctx: WorkspaceContext = Depends(check_access)) -> BatchEndpointOut:
    return BatchEndpointOut.of(await ctx.run(ctx.platform.batch_endpoints.get, ctx.name, name))


@router.patch(B + "/{name}")
async def update_batch_endpoint(name: str, body: BatchEndpointUpdate,
                                ctx: WorkspaceContext = Depends(check_access)
                                ) -> BatchEndpointOut:
    return BatchEndpointOut.of(await ctx.run(
        ctx.platform.batch_endpoints.update, ctx.name, name, description=body.description,
        tags=body.tags, default_deployment=body.default_deployment))


@router.delete(B + "/{name}", status_code=204)
async def delete_batch_endpoint(name: str, ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.batch_endpoints.delete, ctx.name, name)


@router.post(B + "/{name}/jobs", status_code=201)
async def invoke_batch_endpoint(name: str, body: InvokeIn,
                                ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    job = await ctx.run(
        ctx.platform.batch_endpoints.invoke, ctx.name, name, input_path=body.input,
        input_type=body.input_type, deployment_name=body.deployment_name,
        mini_batch_size=body.mini_batch_size, output_path=body.output_path,
        experiment_name=body.experiment_name, submitter=submitting_user(ctx))
    return JobOut.of(job)


@router.get(B + "/{name}/jobs")
async def list_batch_jobs(name: str, deployment_name: str | None = None,
                          ctx: WorkspaceContext = Depends(check_access)) -> list[JobOut]:
    found = await ctx.run(ctx.platform.batch_endpoints.list_jobs, ctx.name, name,
                          deployment_name)
    return [JobOut.of(j) for j in found]
