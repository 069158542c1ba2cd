"""The MLflow Model Registry protocol (``/api/2.0/mlflow/registered-models/...`` and
``.../model-versions/...``) over Ember's model registry.

What the client sends (mlflow 3.17): GET carries its fields in the query string (lists as
repeated keys); POST, PATCH *and DELETE* carry a JSON body. DELETE also reads the query string,
for callers such as curl that put arguments there.

MLflow's semantics kept here, where they differ from Ember's own model API: a version is
created only under an existing registered model; deleting a tag or an alias that is not set is
not an error; transition-stage can archive the other versions of the target stage.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ember.entities.models import Model, RegisteredModel
from ember.entities.auth import READ
from ember.server.deps import WorkspaceContext, check_access, declare
from ember.server.routes.mlflow_tracking import P, body_of, ok, paged
from ember.services import mlflow_registry as registry
from ember.tracking import registry_search as search
from ember.tracking import registry_wire as rw
from ember.tracking import wire

router = APIRouter(tags=["mlflow"])
RM = f"{P}/registered-models"
MV = f"{P}/model-versions"
_LIST_FIELDS = ("order_by", "stages")


async def args(request: Request) -> dict[str, Any]:
    """The request's fields: the query string for GET, the JSON body (over the query string)
    for the other methods."""
    q: dict[str, Any] = dict(request.query_params)
    for field in _LIST_FIELDS:
        if field in q:
            q[field] = request.query_params.getlist(field)
    if request.method == "GET":
        return q
    b = await body_of(request)
    return {**q, **b} if request.method == "DELETE" else b


def _version_out(m: Model) -> Response:
    return ok({"model_version": rw.model_version_json(m)})


# --- registered models ---

@router.post(f"{RM}/create")
async def create_registered_model(request: Request,
                                  ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    svc = ctx.platform.models
    rm = await ctx.run(svc.create_registered, ctx.name, RegisteredModel(
        name=rw.name(b), description=rw.description(b), tags=rw.tags(b)))
    return ok({"registered_model": rw.registered_model_json(rm, [])})


@router.get(f"{RM}/get")
async def get_registered_model(request: Request,
                               ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    svc = ctx.platform.models
    rm = await ctx.run(svc.get_registered, ctx.name, rw.name(b))
    return ok(await ctx.run(registry.registered, svc, ctx.name, rm))


@router.post(f"{RM}/rename")
async def rename_registered_model(request: Request,
                                  ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    svc = ctx.platform.models
    rm = await ctx.run(registry.rename, svc, ctx.name, rw.name(b), rw.name(b, "new_name"))
    return ok(await ctx.run(registry.registered, svc, ctx.name, rm))


@router.patch(f"{RM}/update")
async def update_registered_model(request: Request,
                                  ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    svc = ctx.platform.models
    rm = await ctx.run(svc.update_registered, ctx.name, rw.name(b),
                       description=rw.description(b))
    return ok(await ctx.run(registry.registered, svc, ctx.name, rm))


@router.delete(f"{RM}/delete")
async def delete_registered_model(request: Request,
                                  ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    await ctx.run(ctx.platform.models.delete_registered, ctx.name, rw.name(b))
    return ok()


@router.get(f"{RM}/search")
async def search_registered_models(request: Request,
                                   ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    page = await ctx.run(search.search_registered, ctx.platform.models, ctx.name,
                         wire.text(b, "filter"), wire.items(b, "order_by"),
                         wire.integer(b, "max_results"),
                         wire.token_offset(wire.text(b, "page_token")))
    return paged("registered_models", [rw.registered_model_json(r.model, r.versions)
                                       for r in page.items], page.next_offset)


@router.get(f"{RM}/get-latest-versions")
@router.post(f"{RM}/get-latest-versions", **declare(READ))
async def get_latest_versions(request: Request,
                              ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    name, stages = rw.name(b), rw.stages(wire.items(b, "stages"))
    store = ctx.platform.models
    await ctx.run(store.get_registered, ctx.name, name)   # an unknown name is an error
    versions = await ctx.run(store.list_versions, ctx.name, name)
    return ok({"model_versions": [rw.model_version_json(m)
                                  for m in rw.latest_versions(versions, stages)]})


@router.post(f"{RM}/set-tag")
async def set_registered_model_tag(request: Request,
                                   ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    key, value = rw.tag(b)
    await ctx.run(registry.set_registered_tag, ctx.platform.models, ctx.name, rw.name(b), key, value)
    return ok()


@router.delete(f"{RM}/delete-tag")
async def delete_registered_model_tag(request: Request,
                                      ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    await ctx.run(registry.set_registered_tag, ctx.platform.models, ctx.name, rw.name(b),
                  rw.tag_key(b), None)
    return ok()


@router.post(f"{RM}/alias")
async def set_registered_model_alias(request: Request,
                                     ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    await ctx.run(ctx.platform.models.set_alias, ctx.name, rw.name(b),
                  rw.alias(b, for_setting=True), rw.version(b))
    return ok()


@router.delete(f"{RM}/alias")
async def delete_registered_model_alias(request: Request,
                                        ctx: WorkspaceContext = Depends(check_access)
                                        ) -> Response:
    b = await args(request)
    await ctx.run(registry.delete_alias, ctx.platform.models, ctx.name, rw.name(b), rw.alias(b))
    return ok()


@router.get(f"{RM}/alias")
async def get_model_version_by_alias(request: Request,
                                     ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    m = await ctx.run(ctx.platform.models.get, ctx.name, rw.name(b), label=rw.alias(b))
    return _version_out(m)


# --- model versions ---

@router.post(f"{MV}/create")
async def create_model_version(request: Request,
                               ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    return _version_out(await ctx.run(registry.create_version, ctx.platform.models, ctx.name, b))


@router.get(f"{MV}/get")
async def get_model_version(request: Request,
                            ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    m = await ctx.run(ctx.platform.models.get_version, ctx.name, rw.name(b),
                      rw.version(b))
    return _version_out(m)


@router.patch(f"{MV}/update")
async def update_model_version(request: Request,
                               ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    m = await ctx.run(ctx.platform.models.update, ctx.name, rw.name(b), rw.version(b),
                      description=rw.description(b))
    return _version_out(m)


@router.post(f"{MV}/transition-stage")
async def transition_model_version_stage(request: Request,
                                         ctx: WorkspaceContext = Depends(check_access)
                                         ) -> Response:
    b = await args(request)
    m = await ctx.run(registry.transition, ctx.platform.models, ctx.name, rw.name(b), rw.version(b),
                      rw.canonical_stage(b.get("stage")),
                      wire.boolean(b, "archive_existing_versions"))
    return _version_out(m)


@router.delete(f"{MV}/delete")
async def delete_model_version(request: Request,
                               ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    await ctx.run(ctx.platform.models.delete_version, ctx.name, rw.name(b),
                  rw.version(b))
    return ok()


@router.get(f"{MV}/search")
async def search_model_versions(request: Request,
                                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    page = await ctx.run(search.search_versions, ctx.platform.models, ctx.name,
                         wire.text(b, "filter"), wire.items(b, "order_by"),
                         wire.integer(b, "max_results"),
                         wire.token_offset(wire.text(b, "page_token")))
    return paged("model_versions", [rw.model_version_json(m) for m in page.items],
                 page.next_offset)


@router.get(f"{MV}/get-download-uri")
async def get_model_version_download_uri(request: Request,
                                         ctx: WorkspaceContext = Depends(check_access)
                                         ) -> Response:
    b = await args(request)
    m = await ctx.run(ctx.platform.models.get_version, ctx.name, rw.name(b),
                      rw.version(b))
    return ok({"artifact_uri": m.path})


@router.post(f"{MV}/set-tag")
async def set_model_version_tag(request: Request,
                                ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    key, value = rw.tag(b)
    await ctx.run(registry.set_version_tag, ctx.platform.models, ctx.name, rw.name(b), rw.version(b),
                  key, value)
    return ok()


@router.delete(f"{MV}/delete-tag")
async def delete_model_version_tag(request: Request,
                                   ctx: WorkspaceContext = Depends(check_access)) -> Response:
    b = await args(request)
    await ctx.run(registry.set_version_tag, ctx.platform.models, ctx.name, rw.name(b), rw.version(b),
                  rw.tag_key(b), None)
    return ok()
