"""Batch endpoints and their deployments."""

from __future__ import annotations

import abc

from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint


class BatchEndpointStore(abc.ABC):
    @abc.abstractmethod
    def create_endpoint(self, workspace: str, endpoint: BatchEndpoint) -> BatchEndpoint:
        """Raises AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get_endpoint(self, workspace: str, name: str) -> BatchEndpoint:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list_endpoints(self, workspace: str) -> list[BatchEndpoint]:
        """By name."""

    @abc.abstractmethod
    def update_endpoint(self, workspace: str, endpoint: BatchEndpoint) -> BatchEndpoint:
        """Replace it. Raises NotFoundError."""

    @abc.abstractmethod
    def delete_endpoint(self, workspace: str, name: str) -> None:
        """Delete it and its deployments. Raises NotFoundError."""

    @abc.abstractmethod
    def put_deployment(self, workspace: str, deployment: BatchDeployment) -> BatchDeployment:
        """Insert or replace. Raises NotFoundError without the endpoint."""

    @abc.abstractmethod
    def get_deployment(self, workspace: str, endpoint: str, name: str) -> BatchDeployment:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list_deployments(self, workspace: str, endpoint: str) -> list[BatchDeployment]:
        """By name."""

    @abc.abstractmethod
    def delete_deployment(self, workspace: str, endpoint: str, name: str) -> None:
        """Raises NotFoundError."""
