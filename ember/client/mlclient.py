"""``MLClient``: the SDK entry point, shaped like azure-ai-ml's."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from ember.client import local
from ember.client.http import Http
from ember.client.online_endpoints import Poller
from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint
from ember.entities.components import Component
from ember.entities.connections import Connection
from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.entities.finetuning import FineTuningJob
from ember.entities.jobs import Job
from ember.entities.models import Model
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from ember.entities.pipelines import PipelineJob
from ember.entities.registries import Registry
from ember.entities.schedules import JobSchedule
from ember.entities.serverless_endpoints import ServerlessEndpoint
from ember.entities.sweeps import SweepJob
from ember.entities.workspaces import DEFAULT_WORKSPACE

if TYPE_CHECKING:
    from ember.client.auth import (AuditOperations, RoleOperations, TokenOperations,
                                   UserOperations)
    from ember.client.batch_endpoints import BatchDeploymentOperations, BatchEndpointOperations
    from ember.client.components import ComponentOperations
    from ember.client.compute import ComputeOperations
    from ember.client.connections import ConnectionOperations
    from ember.client.data import DataOperations
    from ember.client.datastores import DatastoreOperations
    from ember.client.environments import EnvironmentOperations
    from ember.client.flow_runs import FlowRunOperations
    from ember.client.flows import FlowOperations
    from ember.client.jobs import JobOperations
    from ember.client.models import ModelOperations
    from ember.client.online_deployments import OnlineDeploymentOperations
    from ember.client.online_endpoints import OnlineEndpointOperations
    from ember.client.registries import RegistryOperations
    from ember.client.schedules import ScheduleOperations
    from ember.client.serverless_endpoints import ServerlessEndpointOperations
    from ember.client.workspace_flows import WorkspaceFlowOperations

# What ``MLClient.create_or_update`` / ``begin_create_or_update`` take: the kinds, the
# operations group that handles them, and whether they are long-running (their group has
# ``begin_create_or_update``, which returns a Poller) or created at once.
_KINDS: tuple[tuple[tuple[type, ...], str, bool], ...] = (
    ((Job, PipelineJob, SweepJob, FineTuningJob), "jobs", False), ((Model,), "models", False),
    ((Environment,), "environments", False), ((DataAsset,), "data", False),
    ((Component,), "components", False),
    ((OnlineEndpoint,), "online_endpoints", True),
    ((OnlineDeployment,), "online_deployments", True),
    ((BatchEndpoint,), "batch_endpoints", True), ((BatchDeployment,), "batch_deployments", True),
    ((ServerlessEndpoint,), "serverless_endpoints", True),
    ((JobSchedule,), "schedules", True),
    ((Connection,), "connections", False), ((Registry,), "registries", False),
)

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

    def begin_delete(self, name: str, **_azure_options: Any) -> Poller[dict[str, Any]]:
        """Soft-delete (server admins); azure-ai-ml's ``delete_dependent_resources`` and
        ``permanently_delete`` are accepted and ignored: the workspace's files stay."""
        done = self._http.json("DELETE", f"/api/v1/workspaces/{name}")
        return Poller(lambda _timeout: done)


class MLClient:
    """Connect to a workspace server.

    ``MLClient()`` uses ``EMBER_ENDPOINT`` when set, else the embedded local server (started on
    loopback on first use, state under ``EMBER_HOME``). Azure-style positional arguments
    (credential, subscription, resource group) are accepted and ignored; ``workspace_name`` or
    ``workspace`` picks the workspace; ``registry_name`` makes ``models``, ``components`` and
    ``environments`` act on that registry: ``"azureml"``, the built-in read-only one (model
    catalog, built-in components), or a user registry (``client.registries``). ``transport`` (an httpx
    transport) carries the requests some other way than TCP to ``endpoint``, e.g. to the
    server's app in the same process. ``token`` is the bearer token to send; without it the
    SDK sends ``EMBER_TOKEN``, the token ``ember login`` stored for the endpoint, or, for the
    embedded server, the owner token it wrote in ``EMBER_HOME``.
    """

    def __init__(self, credential: Any = None, subscription_id: str | None = None,
                 resource_group_name: str | None = None, workspace_name: str | None = None, *,
                 endpoint: str | None = None, workspace: str | None = None,
                 home: str | os.PathLike[str] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 registry_name: str | None = None, token: str | None = None) -> None:
        endpoint = endpoint or os.environ.get("EMBER_ENDPOINT")
        if not endpoint:
            endpoint = local.ensure_server(Path(home) if home else None)
        self.endpoint = endpoint.rstrip("/")
        self.workspace_name = (workspace or workspace_name or os.environ.get("EMBER_WORKSPACE")
                               or DEFAULT_WORKSPACE)
        self._http = Http(self.endpoint, self.workspace_name, transport=transport, token=token)
        # with registry_name (as azure-ai-ml's registry client), models, components and
        # environments are the registry's: Ember's built-in, read-only ``azureml`` or a user's
        self.registry_name = registry_name

    # Each operation group is made, and its module imported, on first use: a CLI command
    # that touches jobs does not import the endpoints', models' or data's modules.

    @cached_property
    def jobs(self) -> JobOperations:
        from ember.client.jobs import JobOperations
        return JobOperations(self._http)

    @cached_property
    def data(self) -> DataOperations:
        from ember.client.data import DataOperations
        return DataOperations(self._http)

    @cached_property
    def environments(self) -> EnvironmentOperations:
        from ember.client.environments import EnvironmentOperations
        return EnvironmentOperations(self._http, registry=self.registry_name)

    @cached_property
    def components(self) -> ComponentOperations:
        from ember.client.components import ComponentOperations
        return ComponentOperations(self._http, registry=self.registry_name)

    @cached_property
    def models(self) -> ModelOperations:
        from ember.client.models import ModelOperations
        return ModelOperations(self._http, registry=self.registry_name)

    @cached_property
    def online_endpoints(self) -> OnlineEndpointOperations:
        from ember.client.online_endpoints import OnlineEndpointOperations
        return OnlineEndpointOperations(self._http)

    @cached_property
    def online_deployments(self) -> OnlineDeploymentOperations:
        from ember.client.online_deployments import OnlineDeploymentOperations
        return OnlineDeploymentOperations(self._http, self.models)

    @cached_property
    def batch_endpoints(self) -> BatchEndpointOperations:
        from ember.client.batch_endpoints import BatchEndpointOperations
        return BatchEndpointOperations(self._http)

    @cached_property
    def batch_deployments(self) -> BatchDeploymentOperations:
        from ember.client.batch_endpoints import BatchDeploymentOperations
        return BatchDeploymentOperations(self._http, self.models)

    @cached_property
    def serverless_endpoints(self) -> ServerlessEndpointOperations:
        from ember.client.serverless_endpoints import ServerlessEndpointOperations
        return ServerlessEndpointOperations(self._http)

    @cached_property
    def schedules(self) -> ScheduleOperations:
        from ember.client.schedules import ScheduleOperations
        return ScheduleOperations(self._http, self.jobs)

    @cached_property
    def connections(self) -> ConnectionOperations:
        from ember.client.connections import ConnectionOperations
        return ConnectionOperations(self._http)

    @cached_property
    def flow_runs(self) -> FlowRunOperations:
        """promptflow batch and evaluation runs (each one a job); PFClient (ember.pf) uses it"""
        from ember.client.flow_runs import FlowRunOperations
        return FlowRunOperations(self._http, self.jobs)

    @cached_property
    def flows(self) -> FlowOperations:
        from ember.client.flows import FlowOperations
        return FlowOperations(self.endpoint, self.workspace_name)

    @cached_property
    def workspace_flows(self) -> WorkspaceFlowOperations:
        """prompt flows kept in the workspace (the studio's flow authoring)"""
        from ember.client.workspace_flows import WorkspaceFlowOperations
        return WorkspaceFlowOperations(self._http)

    @cached_property
    def workspaces(self) -> WorkspaceOperations:
        return WorkspaceOperations(self._http)

    @cached_property
    def datastores(self) -> DatastoreOperations:
        from ember.client.datastores import DatastoreOperations
        return DatastoreOperations(self._http)

    @cached_property
    def compute(self) -> ComputeOperations:
        from ember.client.compute import ComputeOperations
        return ComputeOperations(self._http)

    @cached_property
    def registries(self) -> RegistryOperations:
        """Registries: models, components and environments shared across workspaces."""
        from ember.client.registries import RegistryOperations
        return RegistryOperations(self._http)

    @cached_property
    def users(self) -> UserOperations:
        from ember.client.auth import UserOperations
        return UserOperations(self._http)

    @cached_property
    def tokens(self) -> TokenOperations:
        from ember.client.auth import TokenOperations
        return TokenOperations(self._http)

    @cached_property
    def roles(self) -> RoleOperations:
        """The role assignments of this client's workspace."""
        from ember.client.auth import RoleOperations
        return RoleOperations(self._http)

    @cached_property
    def audit(self) -> AuditOperations:
        from ember.client.auth import AuditOperations
        return AuditOperations(self._http)

    def whoami(self) -> dict[str, Any]:
        """Who the server takes this client for: user, is_admin, kind, roles."""
        from ember.client.auth import whoami
        return whoami(self._http)

    def create_or_update(self, entity: Any, **kwargs: Any) -> Any:
        """azure-ai-ml's shortcut: ``client.create_or_update(x)`` is
        ``client.<group>.create_or_update(x, **kwargs)`` for x's type: a job (command, pipeline,
        sweep, finetuning) → ``jobs``, Model → ``models``, Environment, Data(Asset), Component
        (or a loaded component) → ``components``, Connection → ``connections``. An online or batch
        endpoint or deployment, or a serverless endpoint, is begun and waited for
        (``begin_create_or_update(x).result()``).
        Returns what that method returns; raises TypeError naming the type of anything else."""
        entity, operation, long_running = self._operation(entity, "create_or_update")
        done = operation(entity, **kwargs)
        return done.result() if long_running else done

    def begin_create_or_update(self, entity: Any, **kwargs: Any) -> Poller[Any]:
        """azure-ai-ml's shortcut for the long-running kinds: an online endpoint or deployment,
        a batch endpoint or deployment → ``client.<group>.begin_create_or_update(x,
        **kwargs)``, a Poller whose ``.result()`` waits for the outcome. The kinds that
        :meth:`create_or_update` takes are created at once, in a Poller already done. Raises
        TypeError naming the type of anything else."""
        entity, operation, long_running = self._operation(entity, "begin_create_or_update")
        if long_running:
            return operation(entity, **kwargs)  # type: ignore[no-any-return]
        done = operation(entity, **kwargs)
        return Poller(lambda _timeout: done)

    def _operation(self, entity: Any, caller: str) -> tuple[Any, Callable[..., Any], bool]:
        """The entity to send, the operations method that sends it, whether it is a
        long-running kind (its method is ``begin_create_or_update``)."""
        # What load_component returns; if ember.client.dsl was never imported, it is not one.
        dsl = sys.modules.get("ember.client.dsl")
        if dsl is not None and isinstance(entity, dsl.ComponentFunc):
            entity = entity.component
        for kinds, group, long_running in _KINDS:
            if isinstance(entity, kinds):
                verb = "begin_create_or_update" if long_running else "create_or_update"
                return entity, getattr(getattr(self, group), verb), long_running
        raise TypeError(
            f"MLClient.{caller} cannot create or update an object of type "
            f"{type(entity).__name__!r}; it takes a job (command, pipeline, sweep or "
            "finetuning), Model, Environment, Data, Component, an online or batch endpoint or "
            "deployment, a serverless endpoint, or a Connection")

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
