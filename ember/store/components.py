from __future__ import annotations

import abc

from ember.entities.components import Component
from ember.store.versioned import VersionedAssetStore


class ComponentStore(VersionedAssetStore[Component]):
    """Component versions. Archived versions are hidden from ``list`` (unless asked for) and
    never chosen as the latest; ``get`` with an explicit version still finds them."""

    @abc.abstractmethod
    def list(self, workspace: str, name: str | None = None, *,
             include_archived: bool = False) -> list[Component]:
        """Latest non-archived version of every component, or every version of ``name``."""

    @abc.abstractmethod
    def set_archived(self, workspace: str, name: str, version: str,
                     archived: bool) -> Component:
        """Archive or restore one version. Raises NotFoundError when it does not exist."""
