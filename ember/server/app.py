"""FastAPI app factory: versioned REST API, MLflow protocol, one error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

from ember import __version__
from ember.errors import EmberError, InvalidInputError
from ember.server.body_limit import BodyLimit
from ember.server.context import Platform
from ember.server.errors import UnexpectedErrors, from_http_exception, validation_message
from ember.server.root_alias import DefaultWorkspaceAlias
from ember.server.schemas.errors import ERROR_RESPONSES
from ember.settings import Settings

API_PREFIX = "/api/v1"


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


def create_app(settings: Settings, *, start_scheduler: bool = True) -> FastAPI:
    settings = settings.resolved()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform(settings)
        app.state.platform = platform
        if start_scheduler:
            platform.start()
        try:
            yield
        finally:
            platform.close()

    app = FastAPI(title="Ember workspace server", version=__version__, lifespan=lifespan,
                  openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=f"{API_PREFIX}/docs", redoc_url=None)

    # Every failure reaches error_response: Ember's errors directly, the others as the Ember
    # error they amount to (errors.py), and the unexpected ones through UnexpectedErrors.
    @app.exception_handler(EmberError)
    async def ember_error(request: Request, exc: EmberError) -> JSONResponse:
        return error_response(request.scope, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request.scope, InvalidInputError(validation_message(exc.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(request.scope,
                              from_http_exception(exc, request.method, request.url.path),
                              headers=exc.headers)

    # Outermost first: the catch-all, then the size limits, then the root alias of MLflow.
    app.add_middleware(DefaultWorkspaceAlias)
    app.add_middleware(BodyLimit, render=error_response)
    app.add_middleware(UnexpectedErrors, render=error_response)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    from ember.server.routes import (
        batch_deployments,
        batch_endpoints,
        components,
        connections,
        data,
        datastores,
        environments,
        jobs,
        models,
        online_deployments,
        online_endpoints,
        serverless_endpoints,
        uploads,
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
    ws_prefix = f"{API_PREFIX}/workspaces/{{workspace}}"
    for module in (datastores, data, environments, components, uploads, jobs, models,
                   online_endpoints, online_deployments, batch_endpoints, batch_deployments,
                   serverless_endpoints, connections):
        app.include_router(module.router, prefix=ws_prefix, responses=ERROR_RESPONSES)
    return app
