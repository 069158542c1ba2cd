"""Model registry, the Ember/Azure ML shape (``/api/v1/workspaces/{ws}/models``). The MLflow
registry protocol over the same registry is in ``mlflow_registry.py``.

``registry_router`` serves a registry's models (``/api/v1/registries/{registry}/models``, as
Azure's ``/registries/{registryName}/models``): the built-in, read-only ``azureml`` catalog,
whose write routes answer 403, or a user registry's (``registries.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response, StreamingResponse

from ember.server.deps import RegistryContext, WorkspaceContext, check_access, check_registry
from ember.server.schemas.base import BINARY_RESPONSE
from ember.server.schemas.models import ModelFileOut, ModelIn, ModelOut, ModelUpdate

router = APIRouter(tags=["models"])
registry_router = APIRouter(tags=["models"], dependencies=[Depends(check_registry)])


@router.post("/models", status_code=201)
async def create_model(body: ModelIn, ctx: WorkspaceContext = Depends(check_access)) -> ModelOut:
    return ModelOut.of(await ctx.run(ctx.platform.models.create, ctx.name, body.entity()))


@router.get("/models")
async def list_models(name: str | None = None, include_archived: bool = False,
                      ctx: WorkspaceContext = Depends(check_access)) -> list[ModelOut]:
    found = await ctx.run(ctx.platform.models.list, ctx.name, name,
                          include_archived=include_archived)
    return [ModelOut.of(m) for m in found]


@router.get("/models/{name}")
async def get_model(name: str, version: str | None = None, label: str | None = None,
                    ctx: WorkspaceContext = Depends(check_access)) -> ModelOut:
    return ModelOut.of(await ctx.run(ctx.platform.models.get, ctx.name, name, version,
                                     label=label))


@router.patch("/models/{name}/versions/{version}")
async def update_model(name: str, version: str, body: ModelUpdate,
                       ctx: WorkspaceContext = Depends(check_access)) -> ModelOut:
    return ModelOut.of(await ctx.run(
        ctx.platform.models.update, ctx.name, name, version, description=body.description,
        tags=body.tags, properties=body.properties, stage=body.stage))


@router.post("/models/{name}/archive")
async def archive_model(name: str, version: str | None = None,
                        ctx: WorkspaceContext = Depends(check_access)) -> list[ModelOut]:
    done = await ctx.run(ctx.platform.models.set_archived, ctx.name, name, version, True)
    return [ModelOut.of(m) for m in done]


@router.post("/models/{name}/restore")
async def restore_model(name: str, version: str | None = None,
                        ctx: WorkspaceContext = Depends(check_access)) -> list[ModelOut]:
    done = await ctx.run(ctx.platform.models.set_archived, ctx.name, name, version, False)
    return [ModelOut.of(m) for m in done]


@router.get("/models/{name}/versions/{version}/files")
async def list_model_files(name: str, version: str,
                           ctx: WorkspaceContext = Depends(check_access)) -> list[ModelFileOut]:
    model = await ctx.run(ctx.platform.models.get, ctx.name, name, version)
    return [ModelFileOut.of(f) for f in await ctx.run(ctx.platform.models.files, ctx.name,
                                                        model)]


@router.get("/models/{name}/versions/{version}/files/{path:path}", response_class=Response,
            responses=BINARY_RESPONSE)
async def download_model_file(name: str, version: str, path: str,
                              ctx: WorkspaceContext = Depends(check_access)) -> Response:
    model = await ctx.run(ctx.platform.models.get, ctx.name, name, version)
    target = await ctx.run(ctx.platform.models.file_path, ctx.name, model, path)
    store = ctx.platform.artifacts
    local = store.local_path(target)
    if local is not None:
        return FileResponse(local, media_type="application/octet-stream")

    def chunks():  # type: ignore[no-untyped-def]
        with store.open_read(target) as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
    return StreamingResponse(chunks(), media_type="application/octet-stream")


# --- a registry's models: the built-in catalog (read-only) or a user registry's -----------

@registry_router.get("/registries/{registry}/models")
async def list_registry_models(name: str | None = None, include_archived: bool = False,
                               ctx: RegistryContext = Depends(check_registry)
                               ) -> list[ModelOut]:
    found = await ctx.run(ctx.platform.models.list_from_registry, ctx.registry, name,
                          include_archived=include_archived)
    return [ModelOut.of(m) for m in found]


@registry_router.get("/registries/{registry}/models/{name}")
async def get_registry_model(name: str, version: str | None = None, label: str | None = None,
                             ctx: RegistryContext = Depends(check_registry)) -> ModelOut:
    return ModelOut.of(await ctx.run(ctx.platform.models.get_from_registry, ctx.registry,
                                     name, version, label=label))


@registry_router.post("/registries/{registry}/models", status_code=201)
async def create_registry_model(body: ModelIn, ctx: RegistryContext = Depends(check_registry)
                                ) -> ModelOut:
    return ModelOut.of(await ctx.run(ctx.platform.models.create_in_registry, ctx.registry,
                                     body.entity()))


@registry_router.patch("/registries/{registry}/models/{name}/versions/{version}")
async def update_registry_model(name: str, version: str, body: ModelUpdate,
                                ctx: RegistryContext = Depends(check_registry)) -> ModelOut:
    return ModelOut.of(await ctx.run(
        ctx.platform.models.update_in_registry, ctx.registry, name, version,
        description=body.description, tags=body.tags, properties=body.properties,
        stage=body.stage))


@registry_router.post("/registries/{registry}/models/{name}/archive")
async def archive_registry_model(name: str, version: str | None = None,
                                 ctx: RegistryContext = Depends(check_registry)
                                 ) -> list[ModelOut]:
    done = await ctx.run(ctx.platform.models.set_archived_in_registry, ctx.registry, name,
                         version, True)
    return [ModelOut.of(m) for m in done]


@registry_router.post("/registries/{registry}/models/{name}/restore")
async def restore_registry_model(name: str, version: str | None = None,
                                 ctx: RegistryContext = Depends(check_registry)
                                 ) -> list[ModelOut]:
    done = await ctx.run(ctx.platform.models.set_archived_in_registry, ctx.registry, name,
                         version, False)
    return [ModelOut.of(m) for m in done]
