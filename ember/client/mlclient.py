"""``MLClient``: the SDK entry point, shaped like azure-ai-ml's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from ember.client import local
from ember.client.data import DataOperations
from ember.client.datastores import DatastoreOperations
from ember.client.environments import EnvironmentOperations
from ember.client.batch_endpoints import BatchDeploymentOperations, BatchEndpointOperations
from ember.client.components import ComponentOperations
from ember.client.http import Http
from ember.client.jobs import JobOperations
from ember.client.models import ModelOperations
from ember.client.online_deployments import OnlineDeploymentOperations
from ember.client.online_endpoints import OnlineEndpointOperations
from ember.entities.workspaces import DEFAULT_WORKSPACE


class WorkspaceOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def get(self, name: str) -> dict[str, Any]:
        return self._http.json("GET", f"/api/v1/workspaces/{name}")  # type: ignore[no-any-return]

    def list(self) -> list[dict[str, Any]]:
        return self._http.json("GET", "/api/v1/workspaces")  # type: ignore[no-any-return]

    def create(self, name: str, *, description: str = "",
               display_name: str = "") -> dict[str, Any]:
        body = {"name": name, "description": description, "display_name": display_name}
        return self._http.json("POST", "/api/v1/workspaces", json=body)  # type: ignore[no-any-return]


class MLClient:
    """Connect to a workspace server.

    ``MLClient()`` uses ``EMBER_ENDPOINT`` when set, else the embedded local server (started on
    loopback on first use, state under ``EMBER_HOME``). Azure-style positional arguments
    (credential, subscription, resource group) are accepted and ignored; ``workspace_name`` or
    ``workspace`` picks the workspace. ``transport`` (an httpx transport) carries the requests
    some other way than TCP to ``endpoint``, e.g. to the server's app in the same process.
    """

    def __init__(self, credential: Any = None, subscription_id: str | None = None,
                 resource_group_name: str | None = None, workspace_name: str | None = None, *,
                 endpoint: str | None = None, workspace: str | None = None,
                 home: str | os.PathLike[str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        endpoint = endpoint or os.environ.get("EMBER_ENDPOINT")
        if not endpoint:
            endpoint = local.ensure_server(Path(home) if home else None)
        self.endpoint = endpoint.rstrip("/")
        self.workspace_name = (workspace or workspace_name or os.environ.get("EMBER_WORKSPACE")
                               or DEFAULT_WORKSPACE)
        self._http = Http(self.endpoint, self.workspace_name, transport=transport)
        self.jobs = JobOperations(self._http)
        self.data = DataOperations(self._http)
        self.environments = EnvironmentOperations(self._http)
        self.components = ComponentOperations(self._http)
        self.models = ModelOperations(self._http)
        self.online_endpoints = OnlineEndpointOperations(self._http)
        self.online_deployments = OnlineDeploymentOperations(self._http, self.models)
        self.batch_endpoints = BatchEndpointOperations(self._http)
        self.batch_deployments = BatchDeploymentOperations(self._http, self.models)
        self.workspaces = WorkspaceOperations(self._http)
        self.datastores = DatastoreOperations(self._http)

    def workspace(self) -> dict[str, Any]:
        """The workspace, including its ``mlflow_tracking_uri``."""
        return self.workspaces.get(self.workspace_name)

    @property
    def mlflow_tracking_uri(self) -> str:
        return str(self.workspace()["mlflow_tracking_uri"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MLClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
