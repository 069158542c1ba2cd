"""The one access check every route passes through.

``check_access`` (routes under ``/workspaces/{workspace}``), ``check_server`` (the few
server-level routes) and ``check_registry`` (``/registries/{registry}/...``) all authenticate
the caller from the ``Authorization`` header (``services/auth.py``, cached), read the action
the matched route declares (``declare``; undeclared: GET is ``read``, DELETE ``delete``, the
rest ``write``), derive the resource kind from the request's path, and ask
``AuthService.authorize``. The caller is kept on the request (``request.state.principal``) for
the audit log (``server/audit.py``). ``create_app`` refuses to build an app with a route that
passes through none of them.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Path, Request

from ember.entities.auth import (
    DELETE,
    KIND_ASSETS,
    KIND_COMPUTE,
    KIND_WORKSPACE,
    READ,
    WRITE,
    Principal,
)
from ember.entities.registries import backing_workspace, is_backing_workspace, is_builtin_registry
from ember.errors import NotFoundError, PermissionDeniedError
from ember.server.context import Platform
from ember.server.session_cookie import CSRF_HEADER, SAFE_METHODS, csrf_matches, session_of

T = TypeVar("T")

ACTION_KEY = "x-ember-action"
WORKLOAD_KEY = "x-ember-workload"
# what a job's token may write through a route that declares it: its own job's runner reports
# (the route's ``{name}`` is the job), or the MLflow tracking protocol
OWN_JOB = "own-job"
TRACKING = "tracking"
ANONYMOUS = Principal(user="anonymous", is_admin=True, kind="anonymous")


def declare(action: str, *, workload: str | None = None) -> dict[str, Any]:
    """A route's access declaration, as keyword arguments of the route decorator:
    ``@router.post("/runs/search", **declare(READ))``. Shown in the OpenAPI document as
    ``x-ember-action`` (and ``x-ember-workload``)."""
    extra: dict[str, Any] = {ACTION_KEY: action}
    if workload:
        extra[WORKLOAD_KEY] = workload
    return {"openapi_extra": extra}


def route_action(route: Any, method: str) -> str:
    extra = getattr(route, "openapi_extra", None) or {}
    if ACTION_KEY in extra:
        return str(extra[ACTION_KEY])
    return {"GET": READ, "HEAD": READ, "DELETE": DELETE}.get(method, WRITE)


def resource_kind(path: str) -> str:
    """What a request's path reaches in its workspace: the workspace itself
    (``/api/v1/workspaces/<ws>``), its compute (``.../computes...``), or anything else."""
    parts = path.strip("/").split("/")
    if parts[:3] != ["api", "v1", "workspaces"] or len(parts) < 4:
        return KIND_ASSETS
    rest = parts[4:]
    if not rest:
        return KIND_WORKSPACE
    return KIND_COMPUTE if rest[0] == "computes" else KIND_ASSETS


@dataclass(frozen=True)
class WorkspaceContext:
    name: str
    platform: Platform
    principal: Principal = ANONYMOUS

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (database, files) off the event loop on the platform's executor.

        A plain executor, not anyio's ``to_thread``: it costs less per call, which shows on
        small hot requests such as a single ``log-metric``.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.platform.executor,
                                          functools.partial(fn, *args, **kwargs))


@dataclass(frozen=True)
class ServerContext:
    platform: Platform
    principal: Principal


def platform_of(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def authenticate(request: Request, platform: Platform) -> Principal:
    """The caller: the ``Authorization`` header's, else the studio session cookie's (whose
    unsafe requests must carry the session's CSRF token: ``session_cookie.py``)."""
    if not platform.auth.enabled:
        principal = ANONYMOUS
    else:
        header = request.headers.get("authorization")
        session = None if header else session_of(request)
        if session is not None:
            if request.method not in SAFE_METHODS and not csrf_matches(
                    session[1], request.headers.get(CSRF_HEADER)):
                raise PermissionDeniedError("a request signed in by the studio's session "
                                            "cookie needs its CSRF token (X-CSRF-Token)")
            header = f"Bearer {session[1]}"
        principal = platform.auth.authenticate(header)
    request.state.principal = principal
    return principal


def _authorize(request: Request, platform: Platform, principal: Principal,
               workspace: str | None) -> None:
    route = request.scope.get("route")
    action = route_action(route, request.method)
    workload = (getattr(route, "openapi_extra", None) or {}).get(WORKLOAD_KEY)
    if workload == OWN_JOB and principal is not ANONYMOUS:
        # runner reports come from the job's own runner, never from a person (an admin too):
        # a forged report could end a running job or overwrite a finished job's outputs
        if not (principal.kind == "job" and principal.workspace == workspace
                and request.path_params.get("name") == principal.subject):
            raise PermissionDeniedError(f"{principal.describe()} may not report for job "
                                        f"{request.path_params.get('name')!r}: only its "
                                        "runner may")
    platform.auth.authorize(principal, workspace, resource_kind(request.url.path), action,
                            workload_may_write=workload in (OWN_JOB, TRACKING))


async def check_access(
        request: Request,
        workspace: Annotated[str, Path(description="The workspace's name")]) -> WorkspaceContext:
    """Resolve the workspace of the request (the ``{workspace}`` path parameter, declared here
    so every route's OpenAPI operation has it), authenticate and authorise.

    ``async`` on purpose: it runs on the event loop (no threadpool hop on every request); the
    caller, their roles and the workspace are read from the database only when not cached.
    Authorisation comes before the workspace lookup, so a caller without a role learns
    nothing of which workspaces exist.
    """
    platform = platform_of(request)
    principal = authenticate(request, platform)
    if is_backing_workspace(workspace):
        # a registry's assets are reached only through /registries/{registry}/...
        raise NotFoundError(f"workspace {workspace!r} does not exist")
    _authorize(request, platform, principal, workspace)
    platform.workspaces.exists(workspace)  # raises NotFoundError for an unknown workspace
    if request.method in _WRITES and not principal.is_admin and _json_body(request):
        await _check_registry_uses(request, platform, principal)
    return WorkspaceContext(name=workspace, platform=platform, principal=principal)


_WRITES = frozenset({"POST", "PUT", "PATCH"})
_REGISTRY_REF = re.compile(rb"azureml://registries/([A-Za-z0-9][A-Za-z0-9_-]*)/",
                           re.IGNORECASE)


def _json_body(request: Request) -> bool:
    tracking = (getattr(request.scope.get("route"), "openapi_extra", None) or {}).get(
        WORKLOAD_KEY) == TRACKING   # the MLflow hot paths name no registry asset
    return not tracking and request.headers.get("content-type", "").startswith(
        "application/json")


async def _check_registry_uses(request: Request, platform: Platform,
                               principal: Principal) -> None:
    """A job, component, deployment... that names a user registry's asset
    (``azureml://registries/<r>/...``) is made only by who may read that registry (AzureML
    Registry User, Contributor, Owner): using an asset is reading it."""
    body = await request.body()   # cached: the route reads the same bytes
    for found in {m.decode() for m in _REGISTRY_REF.findall(body)}:
        if is_builtin_registry(found):
            continue
        try:
            platform.auth.authorize(principal, backing_workspace(found), KIND_ASSETS, READ)
        except PermissionDeniedError:
            raise PermissionDeniedError(f"{principal.describe()} may not use registry "
                                        f"{found!r}: it needs a role there (AzureML Registry "
                                        "User reads and uses)") from None


def submitting_user(ctx: WorkspaceContext) -> str | None:
    """Who submits a job: the caller's user; with a job's token, that job's submitter (its
    token's user is the server's owner, not the person); None with auth off."""
    p = ctx.principal
    if p.kind == "anonymous":
        return None
    if p.kind == "job" and p.subject:
        return ctx.platform.jobs.submitter_of(ctx.name, p.subject) or p.user
    return p.user


async def check_server(request: Request) -> ServerContext:
    """The access check of the server-level routes (workspaces, users, tokens, registries)."""
    platform = platform_of(request)
    principal = authenticate(request, platform)
    _authorize(request, platform, principal, None)
    return ServerContext(platform=platform, principal=principal)


@dataclass(frozen=True)
class RegistryContext(WorkspaceContext):
    """A registry route's context: ``registry`` as named in the path; ``name`` is its backing
    workspace ("" for the built-in ``azureml``)."""

    registry: str = ""


async def check_registry(
        request: Request,
        registry: Annotated[str, Path(description="The registry's name")]) -> RegistryContext:
    """The access check of ``/registries/{registry}/...``. The built-in ``azureml`` registry
    is the server's (as ``check_server``: every caller reads, its writes are refused by the
    services). A user registry's roles are assignments on its backing workspace, asked of
    ``AuthService.authorize`` with the assets kind: AzureML Registry User reads, Contributor
    and Owner write, Owner manages its roles; a server admin does everything. A job's or a
    deployment's token reads any registry (what its workspace may use, it may read).

    A read of an unknown registry is a 404 (it names no one's data); any other action is
    authorised first, so a caller without a role learns nothing from a write."""
    platform = platform_of(request)
    principal = authenticate(request, platform)
    if is_builtin_registry(registry):
        _authorize(request, platform, principal, None)
        return RegistryContext(name="", platform=platform, principal=principal,
                               registry=registry)
    action = route_action(request.scope.get("route"), request.method)
    if action == READ:
        backing = platform.registries.workspace_of(registry)   # NotFoundError
        if not principal.is_workload:
            platform.auth.authorize(principal, backing, KIND_ASSETS, READ)
    else:
        platform.auth.authorize(principal, backing_workspace(registry), KIND_ASSETS, action)
        backing = platform.registries.workspace_of(registry)
    return RegistryContext(name=backing, platform=platform, principal=principal,
                           registry=registry)


CHECKS = (check_access, check_server, check_registry)
