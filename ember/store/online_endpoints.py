"""Online endpoints (with their keys) and deployments."""

from __future__ import annotations

import abc

from ember.entities.online_endpoints import EndpointKeys, OnlineDeployment, OnlineEndpoint


class OnlineEndpointStore(abc.ABC):
    @abc.abstractmethod
    def create_endpoint(self, workspace: str, endpoint: OnlineEndpoint,
                        keys: EndpointKeys) -> OnlineEndpoint:
        """Insert. Raises AlreadyExistsError when the name is taken in the workspace."""

    @abc.abstractmethod
    def get_endpoint(self, workspace: str, name: str) -> OnlineEndpoint:
        """Raises NotFoundError naming the endpoint."""

    @abc.abstractmethod
    def list_endpoints(self, workspace: str | None = None) -> list[tuple[str, OnlineEndpoint]]:
        """(workspace, endpoint) pairs, of one workspace or all, by name."""

    @abc.abstractmethod
    def update_endpoint(self, workspace: str, endpoint: OnlineEndpoint) -> OnlineEndpoint:
        """Replace the stored endpoint (not its keys). Raises NotFoundError."""

    @abc.abstractmethod
    def delete_endpoint(self, workspace: str, name: str) -> None:
        """Delete the endpoint and its deployments. Raises NotFoundError."""

    @abc.abstractmethod
    def get_keys(self, workspace: str, name: str) -> EndpointKeys:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list_keys(self) -> dict[tuple[str, str], EndpointKeys]:
        """Every endpoint's keys, by (workspace, endpoint), in one read (the router table)."""

    @abc.abstractmethod
    def set_keys(self, workspace: str, name: str, keys: EndpointKeys) -> None:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def create_deployment(self, workspace: str, deployment: OnlineDeployment) -> OnlineDeployment:
        """Insert. Raises NotFoundError without the endpoint, AlreadyExistsError on a taken
        name."""

    @abc.abstractmethod
    def get_deployment(self, workspace: str, endpoint: str, name: str) -> OnlineDeployment:
        """Raises NotFoundError naming endpoint and deployment."""

    @abc.abstractmethod
    def list_deployments(self, workspace: str | None = None,
                         endpoint: str | None = None) -> list[tuple[str, OnlineDeployment]]:
        """(workspace, deployment) pairs, filtered by workspace and endpoint, by name."""

    @abc.abstractmethod
    def update_deployment(self, workspace: str, deployment: OnlineDeployment) -> OnlineDeployment:
        """Replace the stored deployment. Raises NotFoundError."""

    @abc.abstractmethod
    def delete_deployment(self, workspace: str, endpoint: str, name: str) -> None:
        """Raises NotFoundError."""
