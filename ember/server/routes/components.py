"""Component versions of a workspace (``/api/v1/workspaces/{ws}/components``); ``registry_router``
serves a registry's (``/api/v1/registries/{registry}/components``, as Azure's
``/registries/{registryName}/components``): the built-in, read-only ``azureml`` registry, or a
user registry's."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.entities.components import Component
from ember.server.deps import RegistryContext, WorkspaceContext, check_access, check_registry
from ember.server.schemas.components import ComponentIn, ComponentOut

router = APIRouter(tags=["components"])
registry_router = APIRouter(tags=["components"], dependencies=[Depends(check_registry)])


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


# --- a registry's components: the built-in azureml registry (read-only) or a user registry's --

@registry_router.get("/registries/{registry}/components")
def list_registry_components(name: str | None = None, include_archived: bool = False,
                             ctx: RegistryContext = Depends(check_registry)
                             ) -> list[ComponentOut]:
    return [_registry_out(ctx.registry, c) for c in ctx.platform.components.list_from_registry(
        ctx.registry, name, include_archived=include_archived)]


@registry_router.get("/registries/{registry}/components/{name}")
def get_registry_component(name: str, version: str | None = None,
                           ctx: RegistryContext = Depends(check_registry)) -> ComponentOut:
    found = ctx.platform.components.get_from_registry(ctx.registry, name, version)
    return _registry_out(ctx.registry, found.component)


@registry_router.post("/registries/{registry}/components", status_code=201)
def create_registry_component(body: ComponentIn, ctx: RegistryContext = Depends(check_registry)
                              ) -> ComponentOut:
    return _registry_out(ctx.registry, ctx.platform.components.create_in_registry(
        ctx.registry, body.entity()))


def _registry_out(registry: str, c: Component) -> ComponentOut:
    return ComponentOut.of(c).model_copy(update={
        "id": f"azureml://registries/{registry}/components/{c.name}/versions/{c.version}"})
