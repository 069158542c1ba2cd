"""The MLflow protocol at the root serves workspace ``default``: ``/api/2.0/mlflow/...`` is
``/workspaces/default/api/2.0/mlflow/...`` (plain ``mlflow`` tracking URIs with no path).

One rewrite of the path before routing, so the routes exist once: every operation in the
OpenAPI document has its ``{workspace}`` parameter and one operation id, and the workspace
check reads a declared path parameter.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ember.entities.workspaces import DEFAULT_WORKSPACE

# The first segments of the MLflow routes (routes/mlflow_*.py), MLflow's GET /version and its
# OTLP span intake POST /v1/traces.
_PREFIXES = ("/api/2.0/mlflow", "/api/3.0/mlflow")
_EXACT = ("/version", "/v1/traces")
_DEFAULT = f"/workspaces/{DEFAULT_WORKSPACE}"


def is_root_mlflow_path(path: str) -> bool:
    return path.startswith(_PREFIXES) or path in _EXACT


class DefaultWorkspaceAlias:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_root_mlflow_path(scope["path"]):
            scope = dict(scope)
            scope["path"] = _DEFAULT + scope["path"]
            if scope.get("raw_path"):
                scope["raw_path"] = _DEFAULT.encode() + scope["raw_path"]
        await self.app(scope, receive, send)
