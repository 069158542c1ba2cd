"""Connections (``/connections``, Azure ML's workspace connection verbs): create or replace,
get, list, delete (secrets masked), and ``listsecrets``, the plain form with secrets in clear
that a flow run asks for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ember.errors import InvalidInputError
from ember.entities.auth import SECRETS
from ember.server.deps import WorkspaceContext, check_access, declare
from ember.server.schemas.connections import ConnectionIn, ConnectionOut

router = APIRouter(tags=["connections"])
C = "/connections"


@router.put(C + "/{name}")
async def create_or_update_connection(name: str, body: ConnectionIn,
                                      ctx: WorkspaceContext = Depends(check_access)
                                      ) -> ConnectionOut:
    """Create the connection or replace it (same type); a secret left out or sent as
    ``******`` keeps its stored value. Answers it with secrets masked."""
    if body.name not in (None, name):
        raise InvalidInputError(f"the body names connection {body.name!r} but the path "
                                f"{name!r}")
    return ConnectionOut.of(await ctx.run(ctx.platform.connections.create_or_update,
                                          ctx.name, body.entity(name)))


@router.get(C)
async def list_connections(ctx: WorkspaceContext = Depends(check_access)
                           ) -> list[ConnectionOut]:
    return [ConnectionOut.of(c)
            for c in await ctx.run(ctx.platform.connections.list, ctx.name)]


@router.get(C + "/{name}")
async def get_connection(name: str, ctx: WorkspaceContext = Depends(check_access)
                         ) -> ConnectionOut:
    return ConnectionOut.of(await ctx.run(ctx.platform.connections.get, ctx.name, name))


@router.delete(C + "/{name}", status_code=204)
async def delete_connection(name: str, ctx: WorkspaceContext = Depends(check_access)) -> None:
    await ctx.run(ctx.platform.connections.delete, ctx.name, name)


@router.post(C + "/{name}/listsecrets", **declare(SECRETS))
async def list_secrets(name: str, ctx: WorkspaceContext = Depends(check_access)
                       ) -> dict[str, Any]:
    """The plain form with secrets in clear: ``{"name", "type", "api_key", "base_url", ...}``
    for a typed connection, ``{"name", "type": "custom", "configs", "secrets"}`` for a custom
    one."""
    return await ctx.run(ctx.platform.connections.list_secrets, ctx.name, name)
