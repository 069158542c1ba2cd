from __future__ import annotations

import abc

from ember.entities.workspaces import Workspace


class WorkspaceStore(abc.ABC):
    @abc.abstractmethod
    def create(self, workspace: Workspace) -> Workspace:
        """Insert; raises AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get(self, name: str) -> Workspace:
        """Return the workspace; raises NotFoundError."""

    @abc.abstractmethod
    def list(self) -> list[Workspace]:
        """All workspaces, by name (deleted ones too: ``deleted_at`` says)."""

    @abc.abstractmethod
    def mark_deleted(self, name: str, at: float) -> Workspace:
        """Set ``deleted_at`` (once); raises NotFoundError, or ConflictError when already
        deleted."""
