"""Compute targets (``/computes``, ``az ml compute``): the built-in ``local`` and Ray clusters.
Access is checked as the compute kind (``deps.resource_kind``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.computes import ComputeIn, ComputeOut

router = APIRouter(tags=["computes"])


@router.get("/computes")
async def list_computes(ctx: WorkspaceContext = Depends(check_access)) -> list[ComputeOut]:
    return [ComputeOut.of(c) for c in await ctx.run(ctx.platform.computes.list, ctx.name)]


@router.put("/computes/{name}")
async def put_compute(name: str, body: ComputeIn,
                      ctx: WorkspaceContext = Depends(check_access)) -> ComputeOut:
    body.name = name
    return ComputeOut.of(await ctx.run(ctx.platform.computes.create_or_update, ctx.name,
                                       body.entity()))


@router.get("/computes/{name}")
async def get_compute(name: str, ctx: WorkspaceContext = Depends(check_access)) -> ComputeOut:
    """A compute; a Ray compute with its cluster's live ``status`` (state, nodes, CPUs)."""
    return ComputeOut.of(await ctx.run(lambda: ctx.platform.computes.get(ctx.name, name,
                                                                           live=True)))


@router.delete("/computes/{name}", status_code=204)
async def delete_compute(name: str, ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.computes.delete, ctx.name, name)
