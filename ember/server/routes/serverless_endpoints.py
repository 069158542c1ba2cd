"""Serverless endpoints (``/serverless-endpoints``, ARM's ``serverlessEndpoints`` verbs):
create or update, get, list, delete, ``listKeys``, ``regenerateKeys``. Model traffic goes to
the router's scoring URI (``<scoring_uri>/v1/...`` is OpenAI's API); ``.../v1/...`` here sends
a request on as the caller, with the endpoint's key kept on the server (the studio's chat)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from ember.errors import InvalidInputError
from ember.entities.auth import SECRETS
from ember.server.schemas.errors import OPENAI_RELAY_RESPONSES
from ember.server.deps import WorkspaceContext, check_access, declare
from ember.server.endpoint_proxy import forward
from ember.server.schemas.online_endpoints import KeysOut, RegenerateIn
from ember.server.schemas.serverless_endpoints import (
    ServerlessEndpointIn,
    ServerlessEndpointOut,
    ServerlessEndpointUpdate,
)

router = APIRouter(tags=["serverless-endpoints"])
S = "/serverless-endpoints"


@router.put(S + "/{name}")
async def create_or_update_endpoint(name: str, body: ServerlessEndpointIn,
                                    ctx: WorkspaceContext = Depends(check_access)
                                    ) -> ServerlessEndpointOut:
    """Create the endpoint (provisioning starts in the background: poll its
    ``provisioning_state``), or update an existing one's description, tags, properties and
    rate limits (``model_id`` and ``auth_mode`` cannot change)."""
    if body.name not in (None, name):
        raise InvalidInputError(f"the body names endpoint {body.name!r} but the path {name!r}")
    return ServerlessEndpointOut.of(await ctx.run(
        ctx.platform.serverless_endpoints.create_or_update, ctx.name, body.entity(name)))


@router.get(S)
async def list_endpoints(ctx: WorkspaceContext = Depends(check_access)
                         ) -> list[ServerlessEndpointOut]:
    return [ServerlessEndpointOut.of(e)
            for e in await ctx.run(ctx.platform.serverless_endpoints.list, ctx.name)]


@router.get(S + "/{name}")
async def get_endpoint(name: str, ctx: WorkspaceContext = Depends(check_access)
                       ) -> ServerlessEndpointOut:
    """The endpoint, with ``usage``: requests, prompt and completion tokens per key."""
    return ServerlessEndpointOut.of(await ctx.run(ctx.platform.serverless_endpoints.get,
                                                  ctx.name, name))


@router.get(S + "/{name}/usage/history")
async def usage_history(name: str, ctx: WorkspaceContext = Depends(check_access)
                        ) -> list[dict[str, int]]:
    """Requests and tokens per minute (all keys) over the last day, oldest first."""
    found: list[dict[str, int]] = await ctx.run(
        ctx.platform.serverless_endpoints.usage_history, ctx.name, name)
    return found


@router.patch(S + "/{name}")
async def update_endpoint(name: str, body: ServerlessEndpointUpdate,
                          ctx: WorkspaceContext = Depends(check_access)
                          ) -> ServerlessEndpointOut:
    return ServerlessEndpointOut.of(await ctx.run(
        ctx.platform.serverless_endpoints.update, ctx.name, name,
        description=body.description, tags=body.tags, properties=body.properties,
        rate_limits=body.rate_limits.entity() if body.rate_limits else None))


@router.delete(S + "/{name}", status_code=204)
async def delete_endpoint(name: str, ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.serverless_endpoints.delete, ctx.name, name)


@router.post(S + "/{name}/listKeys", **declare(SECRETS))
async def list_keys(name: str, ctx: WorkspaceContext = Depends(check_access)) -> KeysOut:
    keys = await ctx.run(ctx.platform.serverless_endpoints.get_keys, ctx.name, name)
    return KeysOut(primary_key=keys.primary_key, secondary_key=keys.secondary_key)


@router.post(S + "/{name}/regenerateKeys")
async def regenerate_keys(name: str, body: RegenerateIn,
                          ctx: WorkspaceContext = Depends(check_access)) -> KeysOut:
    keys = await ctx.run(ctx.platform.serverless_endpoints.regenerate_keys, ctx.name, name,
                         body.key_type)
    return KeysOut(primary_key=keys.primary_key, secondary_key=keys.secondary_key)


@router.post(S + "/{name}/v1/{path:path}", responses=OPENAI_RELAY_RESPONSES,
             **declare(SECRETS))
async def invoke_openai_path(name: str, path: str, request: Request,
                             ctx: WorkspaceContext = Depends(check_access)
                             ) -> StreamingResponse:
    """The model's OpenAI API (``/v1/chat/completions``...) as the caller, streamed."""
    svc = ctx.platform.serverless_endpoints
    ep = await ctx.run(svc.get, ctx.name, name)
    keys = await ctx.run(svc.get_keys, ctx.name, name)
    return await forward(request, f"{ep.openai_base_url}/{path}", keys.primary_key)
