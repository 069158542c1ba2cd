from __future__ import annotations

import abc

from ember.entities.registries import Registry


class RegistryStore(abc.ABC):
    @abc.abstractmethod
    def create(self, registry: Registry) -> Registry:
        """Insert; raises AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get(self, name: str) -> Registry:
        """Return the registry; raises NotFoundError."""

    @abc.abstractmethod
    def list(self) -> list[Registry]:
        """All registries, by name."""
