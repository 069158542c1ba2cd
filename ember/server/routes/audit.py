"""The audit log (``ember audit list``): a workspace's entries for its Owners, every entry for
server admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from ember.entities.auth import ADMIN, MANAGE
from ember.server.deps import ServerContext, WorkspaceContext, check_access, check_server, declare
from ember.server.schemas.audit import AuditEntryOut

server_router = APIRouter(tags=["audit"])
router = APIRouter(tags=["audit"])
_Limit = Annotated[int, Query(ge=1, le=10_000)]


@router.get("/audit", **declare(MANAGE))
async def list_workspace_audit(user: str | None = None, since: float | None = None,
                               limit: _Limit = 1000,
                               ctx: WorkspaceContext = Depends(check_access)
                               ) -> list[AuditEntryOut]:
    found = await ctx.run(ctx.platform.audit.list, workspace=ctx.name, user=user, since=since,
                          limit=limit)
    return [AuditEntryOut.of(e) for e in found]


@server_router.get("/audit", **declare(ADMIN))
def list_audit(workspace: str | None = None, user: str | None = None,
               since: float | None = None, limit: _Limit = 1000,
               ctx: ServerContext = Depends(check_server)) -> list[AuditEntryOut]:
    return [AuditEntryOut.of(e) for e in ctx.platform.audit.list(
        workspace=workspace, user=user, since=since, limit=limit)]
