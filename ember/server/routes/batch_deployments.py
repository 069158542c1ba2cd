"""Batch deployments (``/batch-endpoints/{endpoint}/deployments``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.batch_endpoints import BatchDeploymentIn, BatchDeploymentOut

router = APIRouter(tags=["batch-deployments"])
D = "/batch-endpoints/{endpoint}/deployments"


@router.put(D + "/{name}")
async def put_batch_deployment(endpoint: str, name: str, body: BatchDeploymentIn,
                               set_default: bool = False,
                               ctx: WorkspaceContext = Depends(check_access)
                               ) -> BatchDeploymentOut:
    return BatchDeploymentOut.of(await ctx.run(
        ctx.platform.batch_deployments.create_or_update, ctx.name,
        body.entity(endpoint, name), set_default=set_default))


@router.get(D)
async def list_batch_deployments(endpoint: str, ctx: WorkspaceContext = Depends(check_access)
                                 ) -> list[BatchDeploymentOut]:
    return [BatchDeploymentOut.of(d) for d in
            await ctx.run(ctx.platform.batch_deployments.list, ctx.name, endpoint)]


@router.get(D + "/{name}")
async def get_batch_deployment(endpoint: str, name: str,
                               ctx: WorkspaceContext = Depends(check_access)
                               ) -> BatchDeploymentOut:
    return BatchDeploymentOut.of(await ctx.run(ctx.platform.batch_deployments.get, ctx.name,
                                               endpoint, name))


@router.delete(D + "/{name}", status_code=204)
async def delete_batch_deployment(endpoint: str, name: str,
                                  ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.batch_deployments.delete, ctx.name, endpoint, name)
