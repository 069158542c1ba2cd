from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.entities.auth import ADMIN
from ember.entities.workspaces import Workspace
from ember.server.deps import ServerContext, WorkspaceContext, check_access, check_server, declare
from ember.server.schemas.workspaces import WorkspaceIn, WorkspaceOut

router = APIRouter(tags=["workspaces"])


@router.get("/workspaces")
def list_workspaces(ctx: ServerContext = Depends(check_server)) -> list[WorkspaceOut]:
    """The workspaces the caller has a role in (every one, for a server admin)."""
    p = ctx.platform
    visible = p.auth.workspaces_of(ctx.principal)
    return [WorkspaceOut.of(w, p.settings.base_url) for w in p.workspaces.list()
            if visible is None or w.name in visible]


@router.post("/workspaces", status_code=201, **declare(ADMIN))
def create_workspace(body: WorkspaceIn, ctx: ServerContext = Depends(check_server)
                     ) -> WorkspaceOut:
    p = ctx.platform
    ws = p.workspaces.create(Workspace(name=body.name, display_name=body.display_name,
                                       description=body.description, tags=body.tags))
    return WorkspaceOut.of(ws, p.settings.base_url)


@router.delete("/workspaces/{workspace}", **declare(ADMIN))
def delete_workspace(ctx: WorkspaceContext = Depends(check_access)) -> WorkspaceOut:
    """Soft-delete (server admins): refused (409) while a job runs or an endpoint serves."""
    ws = ctx.platform.delete_workspace(ctx.name)
    return WorkspaceOut.of(ws, ctx.platform.settings.base_url)


@router.get("/workspaces/{workspace}")
def get_workspace(ctx: WorkspaceContext = Depends(check_access)) -> WorkspaceOut:
    ws = ctx.platform.workspaces.get(ctx.name)
    return WorkspaceOut.of(ws, ctx.platform.settings.base_url)
