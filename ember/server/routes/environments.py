from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.server.deps import RegistryContext, WorkspaceContext, check_access, check_registry
from ember.server.schemas.environments import EnvironmentIn, EnvironmentOut

router = APIRouter(tags=["environments"])
# a registry's (``/api/v1/registries/{registry}/environments``); azureml's are the curated ones
registry_router = APIRouter(tags=["environments"], dependencies=[Depends(check_registry)])


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


@registry_router.post("/registries/{registry}/environments", status_code=201)
def create_registry_environment(body: EnvironmentIn,
                                ctx: RegistryContext = Depends(check_registry)
                                ) -> EnvironmentOut:
    return EnvironmentOut.of(ctx.platform.environments.create_in_registry(
        ctx.registry, body.entity()))


@registry_router.get("/registries/{registry}/environments")
def list_registry_environments(name: str | None = None,
                               ctx: RegistryContext = Depends(check_registry)
                               ) -> list[EnvironmentOut]:
    return [EnvironmentOut.of(e) for e in
            ctx.platform.environments.list_from_registry(ctx.registry, name)]


@registry_router.get("/registries/{registry}/environments/{name}")
def get_registry_environment(name: str, version: str | None = None,
                             ctx: RegistryContext = Depends(check_registry)
                             ) -> EnvironmentOut:
    return EnvironmentOut.of(ctx.platform.environments.get_from_registry(
        ctx.registry, name, version))
