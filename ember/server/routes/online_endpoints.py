"""Online endpoints (``/online-endpoints``): CRUD, keys, metrics. Scoring traffic goes to the
router's scoring URI, never through these routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from ember.entities.auth import SECRETS
from ember.server.deps import WorkspaceContext, check_access, declare
from ember.server.schemas.online_endpoints import (
    EndpointIn,
    EndpointOut,
    EndpointUpdate,
    KeysOut,
    RegenerateIn,
)

router = APIRouter(tags=["online-endpoints"])
E = "/online-endpoints"


@router.post(E, status_code=201)
async def create_endpoint(body: EndpointIn,
                          ctx: WorkspaceContext = Depends(check_access)) -> EndpointOut:
    return EndpointOut.of(await ctx.run(ctx.platform.online_endpoints.create, ctx.name,
                                        body.entity()))


@router.get(E)
async def list_endpoints(ctx: WorkspaceContext = Depends(check_access)) -> list[EndpointOut]:
    return [EndpointOut.of(e) for e in await ctx.run(ctx.platform.online_endpoints.list,
                                                       ctx.name)]


@router.get("/online-endpoints-metrics", response_class=PlainTextResponse)
async def prometheus_metrics(ctx: WorkspaceContext = Depends(check_access)) -> str:
    """Every endpoint's metrics in Prometheus text format (for a scraper)."""
    text: str = await ctx.run(ctx.platform.online_endpoints.prometheus)
    return text


@router.get(E + "/{name}")
async def get_endpoint(name: str, ctx: WorkspaceContext = Depends(check_access)) -> EndpointOut:
    return EndpointOut.of(await ctx.run(ctx.platform.online_endpoints.get, ctx.name, name))


@router.patch(E + "/{name}")
async def update_endpoint(name: str, body: EndpointUpdate,
                          ctx: WorkspaceContext = Depends(check_access)) -> EndpointOut:
    return EndpointOut.of(await ctx.run(
        ctx.platform.online_endpoints.update, ctx.name, name, description=body.description,
        tags=body.tags, traffic=body.traffic, mirror_traffic=body.mirror_traffic))


@router.delete(E + "/{name}", status_code=204)
async def delete_endpoint(name: str, ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.online_endpoints.delete, ctx.name, name)


@router.get(E + "/{name}/keys", **declare(SECRETS))
async def get_keys(name: str, ctx: WorkspaceContext = Depends(check_access)) -> KeysOut:
    keys = await ctx.run(ctx.platform.online_endpoints.get_keys, ctx.name, name)
    return KeysOut(primary_key=keys.primary_key, secondary_key=keys.secondary_key)


@router.post(E + "/{name}/regenerate-keys", status_code=204)
async def regenerate_keys(name: str, body: RegenerateIn,
                          ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.online_endpoints.regenerate_keys, ctx.name, name, body.key_type)


@router.get(E + "/{name}/metrics")
async def endpoint_metrics(name: str, ctx: WorkspaceContext = Depends(check_access)) -> dict:  # type: ignore[type-arg]
    found: dict = await ctx.run(ctx.platform.online_endpoints.metrics, ctx.name, name)  # type: ignore[type-arg]
    return found
