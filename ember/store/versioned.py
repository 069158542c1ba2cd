"""Shared shape of versioned assets (data, environments; later models, components)."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

T = TypeVar("T")


class VersionedAssetStore(abc.ABC, Generic[T]):
    @abc.abstractmethod
    def create(self, workspace: str, asset: T) -> T:
        """Insert a version. An empty version means "next integer after the highest".

        Raises AlreadyExistsError when the (name, version) exists.
        """

    @abc.abstractmethod
    def get(self, workspace: str, name: str, version: str | None = None) -> T:
        """A version, or the latest (most recently created) when ``version`` is None.

        Raises NotFoundError naming the asset and version.
        """

    @abc.abstractmethod
    def list(self, workspace: str, name: str | None = None) -> list[T]:
        """Latest version of every asset, or every version of ``name`` (newest first)."""
