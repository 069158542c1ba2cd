from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ember.entities.workspaces import Workspace
from ember.server.deps import WorkspaceContext, check_access, platform_of
from ember.server.schemas.workspaces import WorkspaceIn, WorkspaceOut

router = APIRouter(tags=["workspaces"])


@router.get("/workspaces")
def list_workspaces(request: Request) -> list[WorkspaceOut]:
    p = platform_of(request)
    return [WorkspaceOut.of(w, p.settings.base_url) for w in p.workspaces.list()]


@router.post("/workspaces", status_code=201)
def create_workspace(body: WorkspaceIn, request: Request) -> WorkspaceOut:
    p = platform_of(request)
    ws = p.workspaces.create(Workspace(name=body.name, display_name=body.display_name,
                                       description=body.description, tags=body.tags))
    return WorkspaceOut.of(ws, p.settings.base_url)


@router.get("/workspaces/{workspace}")
def get_workspace(ctx: WorkspaceContext = Depends(check_access)) -> WorkspaceOut:
    ws = ctx.platform.workspaces.get(ctx.name)
    return WorkspaceOut.of(ws, ctx.platform.settings.base_url)
