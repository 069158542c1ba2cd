"""FastAPI app factory: versioned REST API, MLflow protocol, one error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ember import __version__
from ember.errors import EmberError
from ember.server.context import Platform
from ember.settings import Settings

API_PREFIX = "/api/v1"


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

    @app.exception_handler(EmberError)
    async def ember_error(_request: Request, exc: EmberError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"error_code": "INVALID_PARAMETER_VALUE", "message": msg},
                              status_code=400)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    from ember.server.routes import (
        batch_deployments,
        batch_endpoints,
        components,
        data,
        datastores,
        environments,
        jobs,
        models,
        online_deployments,
        online_endpoints,
        uploads,
        workspaces,
    )

    from ember.server.routes import (
        mlflow_artifacts,
        mlflow_logged_models,
        mlflow_registry,
        mlflow_tracking,
    )

    # The MLflow protocol of a workspace sits under its tracking URI, /workspaces/<name>;
    # the same routes at the root serve workspace "default" (plain `mlflow` tracking URIs).
    # Registered first: routes match in order, and these are the hot paths (metric logging).
    mlflow_routes = (mlflow_tracking, mlflow_logged_models, mlflow_artifacts, mlflow_registry)
    for module in mlflow_routes:
        app.include_router(module.router, prefix="/workspaces/{workspace}",
                           include_in_schema=False)
    for module in mlflow_routes:
        app.include_router(module.router, include_in_schema=False)

    app.include_router(workspaces.router, prefix=API_PREFIX)
    ws_prefix = f"{API_PREFIX}/workspaces/{{workspace}}"
    for module in (datastores, data, environments, components, uploads, jobs, models,
                   online_endpoints, online_deployments, batch_endpoints, batch_deployments):
        app.include_router(module.router, prefix=ws_prefix)
    return app
