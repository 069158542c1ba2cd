"""FastAPI app factory: versioned REST API, MLflow protocol, one error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import Scope

from ember import __version__
from ember.errors import EmberError, InvalidInputError, UnauthenticatedError
from ember.server.audit import AuditTrail
from ember.server.body_limit import BodyLimit
from ember.server.context import Platform
from ember.server.deps import ACTION_KEY, CHECKS, route_action
from ember.server.errors import UnexpectedErrors, from_http_exception, validation_message
from ember.server.root_alias import DefaultWorkspaceAlias
from ember.server.schemas.errors import ERROR_RESPONSES
from ember.settings import Settings

API_PREFIX = "/api/v1"
# 401's challenge: a token, or MLflow's user name and password
# the one route open to everyone (liveness); the OpenAPI document and its page are open too
_PUBLIC = frozenset({"/health"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ember", Basic realm="ember"'}


def error_response(scope: Scope, exc: EmberError,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one serialisation of every error: ``{"error_code", "message"}``, made public (no
    traceback, no server folder; see ``public.py``)."""
    body = exc.to_dict()
    app = scope.get("app")
    platform = getattr(getattr(app, "state", None), "platform", None)
    if platform is not None:
        body["message"] = platform.public_text(body["message"])
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


def create_app(settings: Settings, *, start_scheduler: bool = True,
               platform: Platform | None = None) -> FastAPI:
    """The app; ``platform``: one built already (``serve`` builds it before binding, so a
    refusal — no admin for a public address — is one line, not a failed start-up)."""
    settings = settings.resolved()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = platform if platform is not None else Platform(settings)
        app.state.platform = running
        if start_scheduler:
            running.start()
        try:
            yield
        finally:
            running.close()

    app = FastAPI(title="Ember workspace server", version=__version__, lifespan=lifespan,
                  openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=f"{API_PREFIX}/docs", redoc_url=None)

    # Every failure reaches error_response: Ember's errors directly, the others as the Ember
    # error they amount to (errors.py), and the unexpected ones through UnexpectedErrors.
    @app.exception_handler(EmberError)
    async def ember_error(request: Request, exc: EmberError) -> JSONResponse:
        if isinstance(exc, UnauthenticatedError):
            return error_response(request.scope, exc, headers=_CHALLENGE)
        return error_response(request.scope, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request.scope, InvalidInputError(validation_message(exc.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(request.scope,
                              from_http_exception(exc, request.method, request.url.path),
                              headers=exc.headers)

    # Outermost first: the catch-all, then the size limits, then the root alias of MLflow,
    # then the audit trail (inside the alias: it reads the scope the router fills).
    app.add_middleware(AuditTrail)
    app.add_middleware(DefaultWorkspaceAlias)
    app.add_middleware(BodyLimit, render=error_response)
    app.add_middleware(UnexpectedErrors, render=error_response)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    from ember.server.routes import (
        audit,
        auth,
        batch_deployments,
        batch_endpoints,
        components,
        computes,
        connections,
        data,
        datastores,
        environments,
        jobs,
        models,
        online_deployments,
        online_endpoints,
        registries,
        schedules,
        serverless_endpoints,
        uploads,
        workspace_flows,
        workspaces,
    )

    from ember.server.routes import (
        mlflow_artifacts,
        mlflow_logged_models,
        mlflow_registry,
        mlflow_tracking,
        mlflow_traces,
    )

    # The MLflow protocol of a workspace sits under its tracking URI, /workspaces/<name>;
    # DefaultWorkspaceAlias serves the same routes at the root for workspace "default" (plain
    # `mlflow` tracking URIs), so they are registered and documented once.
    # Registered first: routes match in order, and these are the hot paths (metric logging).
    for module in (mlflow_tracking, mlflow_logged_models, mlflow_artifacts, mlflow_registry,
                   mlflow_traces):
        app.include_router(module.router, prefix="/workspaces/{workspace}",
                           responses=ERROR_RESPONSES)

    app.include_router(workspaces.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(models.registry_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(components.registry_router, prefix=API_PREFIX,
                       responses=ERROR_RESPONSES)
    app.include_router(registries.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for module in (environments, uploads):
        app.include_router(module.registry_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    ws_prefix = f"{API_PREFIX}/workspaces/{{workspace}}"
    for module in (datastores, computes, data, environments, components, uploads, jobs, models,
                   online_endpoints, online_deployments, batch_endpoints, batch_deployments,
                   serverless_endpoints, schedules, connections, workspace_flows, auth, audit):
        app.include_router(module.router, prefix=ws_prefix, responses=ERROR_RESPONSES)
    app.include_router(auth.server_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(audit.server_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    from ember.server import studio
    studio.install(app)
    _stamp_access(app)
    return app


def _stamp_access(app: FastAPI) -> None:
    """Every route passes through the one access check (``deps.CHECKS``), or the app is not
    built; each operation shows its action in the OpenAPI document (``x-ember-action``)."""
    from ember.server import studio
    checks = set(CHECKS) | set(studio.CHECKS)
    for route in _api_routes(app.routes):
        if route.path in _PUBLIC or route.path in studio.PUBLIC_PATHS:
            continue
        calls = {d.call for d in _dependencies(route.dependant)}
        if not calls & checks:
            raise RuntimeError(f"route {sorted(route.methods or ())} {route.path} has no "
                               "access check (Depends(check_access), Depends(check_server) or, "
                               "for a studio page, Depends(page_session))")
        method = sorted(route.methods or {"GET"})[0]
        extra = dict(route.openapi_extra or {})
        extra.setdefault(ACTION_KEY, route_action(route, method))
        route.openapi_extra = extra


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also those of included routers (which FastAPI may keep as a branch
    holding the router rather than as copies)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _dependencies(dependant: Dependant) -> list[Dependant]:
    out = [dependant]
    for d in dependant.dependencies:
        out.extend(_dependencies(d))
    return out
