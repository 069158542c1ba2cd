from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.environments import EnvironmentIn, EnvironmentOut

router = APIRouter(tags=["environments"])


@router.post("/environments", status_code=201)
def create_environment(body: EnvironmentIn,
                       ctx: WorkspaceContext = Depends(check_access)) -> EnvironmentOut:
    return EnvironmentOut.of(ctx.platform.environments.create(ctx.name, body.entity()))


@router.get("/environments")
def list_environments(name: str | None = None,
                      ctx: WorkspaceContext = Depends(check_access)) -> list[EnvironmentOut]:
    return [EnvironmentOut.of(e) for e in ctx.platform.environments.list(ctx.name, name)]


@router.get("/environments/{name}")
def get_environment(name: str, version: str | None = None,
                    ctx: WorkspaceContext = Depends(check_access)) -> EnvironmentOut:
    return EnvironmentOut.of(ctx.platform.environments.get(ctx.name, name, version))
