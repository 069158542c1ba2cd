from __future__ import annotations

import abc

from ember.entities.computes import Compute


class ComputeStore(abc.ABC):
    """Registered compute targets of a workspace (the built-in ``local`` is not stored)."""

    @abc.abstractmethod
    def create_or_update(self, workspace: str, compute: Compute) -> Compute:
        """Insert or replace a compute by name."""

    @abc.abstractmethod
    def get(self, workspace: str, name: str) -> Compute:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list(self, workspace: str) -> list[Compute]:
        """All registered computes of the workspace, by name."""

    @abc.abstractmethod
    def delete(self, workspace: str, name: str) -> None:
        """Raises NotFoundError."""
