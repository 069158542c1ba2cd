"""Users, tokens and role assignments (``ember user|token|role``).

``server_router`` (``/api/v1``): users (admins), the caller's own tokens and ``whoami``;
``router`` (``/api/v1/workspaces/{workspace}``): the workspace's role assignments, which its
Owners manage.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ember.entities.auth import ADMIN, MANAGE, SELF
from ember.errors import PermissionDeniedError
from ember.server.deps import (
    ServerContext,
    WorkspaceContext,
    check_access,
    check_server,
    declare,
)
from ember.server.schemas.auth import (
    PasswordIn,
    RoleIn,
    RoleOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    WhoAmIOut,
)

server_router = APIRouter(tags=["auth"])
router = APIRouter(tags=["auth"])


@server_router.get("/whoami", **declare(SELF))
def whoami(ctx: ServerContext = Depends(check_server)) -> WhoAmIOut:
    p = ctx.principal
    roles = [] if p.is_workload else ctx.platform.auth.list_roles(user=p.user)
    return WhoAmIOut(user=p.user, is_admin=p.is_admin, kind=p.kind, subject=p.subject,
                     roles=[RoleOut.of(a) for a in roles])


@server_router.get("/users", **declare(ADMIN))
def list_users(ctx: ServerContext = Depends(check_server)) -> list[UserOut]:
    return [UserOut.of(u) for u in ctx.platform.auth.list_users()]


@server_router.post("/users", status_code=201, **declare(ADMIN))
def create_user(body: UserIn, ctx: ServerContext = Depends(check_server)) -> UserOut:
    return UserOut.of(ctx.platform.auth.create_user(body.name, password=body.password,
                                                    is_admin=body.is_admin))


@server_router.get("/users/{user}", **declare(SELF))
def get_user(user: str, ctx: ServerContext = Depends(check_server)) -> UserOut:
    _self_or_admin(ctx, user)
    return UserOut.of(ctx.platform.auth.get_user(user))


@server_router.post("/users/{user}/disable", **declare(ADMIN))
def disable_user(user: str, ctx: ServerContext = Depends(check_server)) -> UserOut:
    return UserOut.of(ctx.platform.auth.disable_user(user))


@server_router.post("/users/{user}/enable", **declare(ADMIN))
def enable_user(user: str, ctx: ServerContext = Depends(check_server)) -> UserOut:
    return UserOut.of(ctx.platform.auth.disable_user(user, disabled=False))


@server_router.put("/users/{user}/password", **declare(SELF))
def set_password(user: str, body: PasswordIn,
                 ctx: ServerContext = Depends(check_server)) -> UserOut:
    _self_or_admin(ctx, user)
    return UserOut.of(ctx.platform.auth.set_password(user, body.password))


@server_router.post("/tokens", status_code=201, **declare(SELF))
def create_token(body: TokenIn, ctx: ServerContext = Depends(check_server)) -> TokenOut:
    user = body.user or ctx.principal.user
    _self_or_admin(ctx, user)
    if body.expires_in_days is None:
        record, plain = ctx.platform.auth.create_token(user, name=body.name)
    else:
        record, plain = ctx.platform.auth.create_token(user, name=body.name,
                                                       expires_in_days=body.expires_in_days)
    return TokenOut.of(record, plain)


@server_router.get("/tokens", **declare(SELF))
def list_tokens(user: str | None = None, all_users: bool = False,
                ctx: ServerContext = Depends(check_server)) -> list[TokenOut]:
    """The caller's tokens; an admin may ask for another user's, or everyone's."""
    if all_users and not ctx.principal.is_admin:
        raise PermissionDeniedError("only a server admin may list every user's tokens")
    who = None if all_users else (user or ctx.principal.user)
    if who is not None:
        _self_or_admin(ctx, who)
    return [TokenOut.of(t) for t in ctx.platform.auth.list_tokens(who)]


@server_router.delete("/tokens/{token_id}", **declare(SELF))
def revoke_token(token_id: str, ctx: ServerContext = Depends(check_server)) -> TokenOut:
    return TokenOut.of(ctx.platform.auth.revoke_token(token_id, ctx.principal))


@router.get("/roles")
def list_roles(user: str | None = None,
               ctx: WorkspaceContext = Depends(check_access)) -> list[RoleOut]:
    return [RoleOut.of(a) for a in ctx.platform.auth.list_roles(user=user, workspace=ctx.name)]


@router.post("/roles", status_code=201, **declare(MANAGE))
def assign_role(body: RoleIn, ctx: WorkspaceContext = Depends(check_access)) -> RoleOut:
    return RoleOut.of(ctx.platform.auth.assign_role(body.user, ctx.name, body.role))


@router.delete("/roles", **declare(MANAGE))
def remove_role(user: str, role: str,
                ctx: WorkspaceContext = Depends(check_access)) -> dict[str, str]:
    ctx.platform.auth.remove_role(user, ctx.name, role)
    return {"user": user, "workspace": ctx.name, "role": role}


def _self_or_admin(ctx: ServerContext, user: str) -> None:
    if user != ctx.principal.user and not ctx.principal.is_admin:
        raise PermissionDeniedError(f"{ctx.principal.describe()} may act only on its own "
                                    "account")
