"""Registries (``/api/v1/registries``, as Azure's ``/registries/{registryName}``): models,
components and environments shared by every workspace. Server admins create them; a registry's
roles are managed by its Owners. Its assets are served by the ``registry_router`` of
``models.py``, ``components.py`` and ``environments.py``, its uploads by ``uploads.py``'s."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.entities.auth import ADMIN, MANAGE
from ember.entities.registries import BUILTIN_REGISTRY, Registry
from ember.server.deps import (RegistryContext, ServerContext, check_registry, check_server,
                               declare)
from ember.server.schemas.auth import RoleIn, RoleOut
from ember.server.schemas.registries import RegistryIn, RegistryOut

router = APIRouter(tags=["registries"])

_BUILTIN = Registry(name=BUILTIN_REGISTRY, description=(
    "Ember's built-in, read-only registry: the model catalog, the curated environments and "
    "the built-in components"))


@router.get("/registries")
def list_registries(ctx: ServerContext = Depends(check_server)) -> list[RegistryOut]:
    """``azureml`` and the registries the caller has a role in (every one, for an admin)."""
    p = ctx.platform
    visible = p.auth.workspaces_of(ctx.principal)
    mine = [RegistryOut.of(r) for r in p.registries.list()
            if visible is None or p.registries.workspace_of(r.name) in visible]
    return [RegistryOut.of(_BUILTIN, builtin=True), *mine]


@router.post("/registries", status_code=201, **declare(ADMIN))
def create_registry(body: RegistryIn,
                    ctx: ServerContext = Depends(check_server)) -> RegistryOut:
    return RegistryOut.of(ctx.platform.registries.create(body.entity()))


@router.get("/registries/{registry}")
def get_registry(ctx: RegistryContext = Depends(check_registry)) -> RegistryOut:
    if not ctx.name:
        return RegistryOut.of(_BUILTIN, builtin=True)
    return RegistryOut.of(ctx.platform.registries.get(ctx.registry))


@router.get("/registries/{registry}/roles")
def list_registry_roles(user: str | None = None,
                        ctx: RegistryContext = Depends(check_registry)) -> list[RoleOut]:
    ws = ctx.platform.registries.workspace_of(ctx.registry)
    return [RoleOut.of(a) for a in ctx.platform.auth.list_roles(user=user, workspace=ws)]


@router.post("/registries/{registry}/roles", status_code=201, **declare(MANAGE))
def assign_registry_role(body: RoleIn,
                         ctx: RegistryContext = Depends(check_registry)) -> RoleOut:
    """Assign a role on the registry (AzureML Registry User reads and uses its assets;
    Contributor and Owner write them; Owner assigns its roles). The assignment's workspace is
    the registry's backing workspace."""
    ws = ctx.platform.registries.workspace_of(ctx.registry)
    return RoleOut.of(ctx.platform.auth.assign_role(body.user, ws, body.role))


@router.delete("/registries/{registry}/roles", **declare(MANAGE))
def remove_registry_role(user: str, role: str,
                         ctx: RegistryContext = Depends(check_registry)) -> dict[str, str]:
    ws = ctx.platform.registries.workspace_of(ctx.registry)
    ctx.platform.auth.remove_role(user, ws, role)
    return {"user": user, "registry": ctx.registry, "role": role}
