from __future__ import annotations

import abc

from ember.entities.datastores import Datastore


class DatastoreStore(abc.ABC):
    @abc.abstractmethod
    def create_or_update(self, workspace: str, datastore: Datastore) -> Datastore:
        """Insert or replace a datastore by name."""

    @abc.abstractmethod
    def get(self, workspace: str, name: str) -> Datastore:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def list(self, workspace: str) -> list[Datastore]:
        """All datastores of the workspace, by name."""
