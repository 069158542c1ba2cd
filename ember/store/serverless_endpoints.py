"""Serverless endpoints, with their keys."""

from __future__ import annotations

import abc

from ember.entities.online_endpoints import EndpointKeys
from ember.entities.serverless_endpoints import ServerlessEndpoint


class ServerlessEndpointStore(abc.ABC):
    @abc.abstractmethod
    def create_endpoint(self, workspace: str, endpoint: ServerlessEndpoint,
                        keys: EndpointKeys) -> ServerlessEndpoint:
        """Insert. Raises AlreadyExistsError when the name is taken in the workspace."""

    @abc.abstractmethod
    def get_endpoint(self, workspace: str, name: str) -> ServerlessEndpoint:
        """Raises NotFoundError naming the endpoint."""

    @abc.abstractmethod
    def list_endpoints(self, workspace: str | None = None
                       ) -> list[tuple[str, ServerlessEndpoint]]:
        """(workspace, endpoint) pairs, of one workspace or all, by workspace and name."""

    @abc.abstractmethod
    def update_endpoint(self, workspace: str, endpoint: ServerlessEndpoint) -> ServerlessEndpoint:
        """Replace the stored endpoint (not its keys). Raises NotFoundError."""

    @abc.abstractmethod
    def delete_endpoint(self, workspace: str, name: str) -> None:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def get_keys(self, workspace: str, name: str) -> EndpointKeys:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list_keys(self) -> dict[tuple[str, str], EndpointKeys]:
        """Every endpoint's keys, by (workspace, endpoint), in one read (the router table)."""

    @abc.abstractmethod
    def set_keys(self, workspace: str, name: str, keys: EndpointKeys) -> None:
        """Raises NotFoundError."""
