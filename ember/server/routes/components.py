from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.components import ComponentIn, ComponentOut

router = APIRouter(tags=["components"])


@router.post("/components", status_code=201)
def create_component(body: ComponentIn,
                     ctx: WorkspaceContext = Depends(check_access)) -> ComponentOut:
    return ComponentOut.of(ctx.platform.components.create(ctx.name, body.entity()))


@router.get("/components")
def list_components(name: str | None = None, include_archived: bool = False,
                    ctx: WorkspaceContext = Depends(check_access)) -> list[ComponentOut]:
    return [ComponentOut.of(c) for c in
            ctx.platform.components.list(ctx.name, name, include_archived=include_archived)]


@router.get("/components/{name}")
def get_component(name: str, version: str | None = None,
                  ctx: WorkspaceContext = Depends(check_access)) -> ComponentOut:
    return ComponentOut.of(ctx.platform.components.get(ctx.name, name, version))


@router.post("/components/{name}/versions/{version}/archive")
def archive_component(name: str, version: str,
                      ctx: WorkspaceContext = Depends(check_access)) -> ComponentOut:
    return ComponentOut.of(ctx.platform.components.archive(ctx.name, name, version))


@router.post("/components/{name}/versions/{version}/restore")
def restore_component(name: str, version: str,
                      ctx: WorkspaceContext = Depends(check_access)) -> ComponentOut:
    return ComponentOut.of(ctx.platform.components.restore(ctx.name, name, version))
