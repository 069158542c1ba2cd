"""Online endpoints (``/online-endpoints``): CRUD, keys, metrics. Scoring traffic goes to the
router's scoring URI; ``.../score`` and ``.../v1/...`` invoke the endpoint as the caller (with
the endpoint's key, kept on the server) for callers who may read the key (the studio)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from ember.entities.auth import SECRETS
from ember.server.schemas.errors import OPENAI_RELAY_RESPONSES
from ember.server.deps import WorkspaceContext, check_access, declare
from ember.server.endpoint_proxy import forward
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


@router.get(E + "/{name}/usage")
async def endpoint_usage(name: str, ctx: WorkspaceContext = Depends(check_access)
                         ) -> dict[str, dict[str, int]]:
    """Requests and tokens per key of a language-model endpoint (as a serverless endpoint's
    ``usage``), since the router started."""
    found: dict[str, dict[str, int]] = await ctx.run(ctx.platform.online_endpoints.usage,
                                                      ctx.name, name)
    return found


@router.get(E + "/{name}/usage/history")
async def endpoint_usage_history(name: str, ctx: WorkspaceContext = Depends(check_access)
                                 ) -> list[dict[str, int]]:
    """Requests and tokens per minute (all keys) over the last day, oldest first."""
    found: list[dict[str, int]] = await ctx.run(
        ctx.platform.online_endpoints.usage_history, ctx.name, name)
    return found


@router.post(E + "/{name}/score", **declare(SECRETS))
async def invoke_endpoint(name: str, request: Request, deployment_name: str | None = None,
                          ctx: WorkspaceContext = Depends(check_access)) -> StreamingResponse:
    """The scoring service's answer to the request's body (``az ml online-endpoint invoke``),
    from ``deployment_name`` if given, else as the traffic splits."""
    svc = ctx.platform.online_endpoints
    ep = await ctx.run(svc.get, ctx.name, name)
    keys = await ctx.run(svc.get_keys, ctx.name, name)
    return await forward(request, ep.scoring_uri, keys.primary_key, deployment_name)


@router.post(E + "/{name}/v1/{path:path}", responses=OPENAI_RELAY_RESPONSES,
             **declare(SECRETS))
async def invoke_openai_path(name: str, path: str, request: Request,
                             deployment_name: str | None = None,
                             ctx: WorkspaceContext = Depends(check_access)
                             ) -> StreamingResponse:
    """A language-model deployment's OpenAI API (``/v1/chat/completions``...), streamed."""
    svc = ctx.platform.online_endpoints
    ep = await ctx.run(svc.get, ctx.name, name)
    keys = await ctx.run(svc.get_keys, ctx.name, name)
    base = ep.scoring_uri.removesuffix("/score")
    return await forward(request, f"{base}/v1/{path}", keys.primary_key, deployment_name)
