"""Online deployments (``/online-endpoints/{endpoint}/deployments``). Create and update
answer 202 at once; the rollout runs in the background (poll ``provisioning_state``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from ember.server.deps import WorkspaceContext, check_access
from ember.server.schemas.online_endpoints import DeploymentIn, DeploymentOut

router = APIRouter(tags=["online-deployments"])
D = "/online-endpoints/{endpoint}/deployments"


@router.put(D + "/{name}", status_code=202)
async def create_or_update_deployment(endpoint: str, name: str, body: DeploymentIn,
                                      all_traffic: bool = False,
                                      ctx: WorkspaceContext = Depends(check_access)
                                      ) -> DeploymentOut:
    d = await ctx.run(ctx.platform.online_deployments.create_or_update, ctx.name,
                      body.entity(endpoint, name), all_traffic=all_traffic)
    return DeploymentOut.of(d, public=ctx.platform.public_text)


@router.get(D)
async def list_deployments(endpoint: str,
                           ctx: WorkspaceContext = Depends(check_access)) -> list[DeploymentOut]:
    svc = ctx.platform.online_deployments

    def listed() -> list[DeploymentOut]:
        return [DeploymentOut.of(d, public=ctx.platform.public_text,
                                 serves=svc.serves(ctx.name, endpoint, d.name))
                for d in svc.list(ctx.name, endpoint)]
    return await ctx.run(listed)


@router.get(D + "/{name}")
async def get_deployment(endpoint: str, name: str,
                         ctx: WorkspaceContext = Depends(check_access)) -> DeploymentOut:
    svc = ctx.platform.online_deployments
    d = await ctx.run(svc.get, ctx.name, endpoint, name)
    return DeploymentOut.of(d, await ctx.run(svc.instances, ctx.name, endpoint, name),
                            public=ctx.platform.public_text,
                            serves=await ctx.run(svc.serves, ctx.name, endpoint, name))


@router.delete(D + "/{name}", status_code=204)
async def delete_deployment(endpoint: str, name: str,
                            ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.online_deployments.delete, ctx.name, endpoint, name)


@router.get(D + "/{name}/logs", response_class=PlainTextResponse)
async def deployment_logs(endpoint: str, name: str, lines: int = 100,
                          ctx: WorkspaceContext = Depends(check_access)) -> str:
    text: str = await ctx.run(ctx.platform.online_deployments.get_logs, ctx.name, endpoint,
                              name, max(1, min(lines, 10_000)))
    return text
