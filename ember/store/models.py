"""The model registry store: registered models, their integer versions and aliases."""

from __future__ import annotations

import abc

from ember.entities.models import Model, RegisteredModel


class ModelStore(abc.ABC):
    # --- registered models ---------------------------------------------------------------

    @abc.abstractmethod
    def create_registered(self, workspace: str, model: RegisteredModel) -> RegisteredModel:
        """Insert a registered model. Raises AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get_registered(self, workspace: str, name: str) -> RegisteredModel:
        """The registered model with its aliases. Raises NotFoundError."""

    @abc.abstractmethod
    def list_registered(self, workspace: str) -> list[RegisteredModel]:
        """Every registered model, by name."""

    @abc.abstractmethod
    def update_registered(self, workspace: str, name: str, *, description: str | None = None,
                          tags: dict[str, str] | None = None,
                          new_name: str | None = None) -> RegisteredModel:
        """Change the description, replace the tags, or rename (versions and aliases follow).
        Raises NotFoundError, or AlreadyExistsError when ``new_name`` is taken."""

    @abc.abstractmethod
    def delete_registered(self, workspace: str, name: str) -> None:
        """Delete a registered model with its versions and aliases. Raises NotFoundError."""

    # --- versions ------------------------------------------------------------------------

    @abc.abstractmethod
    def create_version(self, workspace: str, model: Model) -> Model:
        """Insert a version of an existing registered model. ``version`` 0 takes the next
        integer after the highest ever used for the name (deleted versions are not reused).
        Raises NotFoundError when the registered model is missing, AlreadyExistsError when an
        explicit version exists."""

    @abc.abstractmethod
    def get_version(self, workspace: str, name: str, version: int) -> Model:
        """One version with its aliases. Raises NotFoundError naming name and version."""

    @abc.abstractmethod
    def list_versions(self, workspace: str, name: str | None = None, *,
                      include_archived: bool = False) -> list[Model]:
        """Every version of ``name`` (newest first), or of every model (by name, newest
        first). Archived versions only when asked for."""

    @abc.abstractmethod
    def update_version(self, workspace: str, name: str, version: int, *,
                       description: str | None = None, tags: dict[str, str] | None = None,
                       properties: dict[str, str] | None = None, stage: str | None = None,
                       archived: bool | None = None, status: str | None = None) -> Model:
        """Change the given fields (tags and properties replace the old ones).
        Raises NotFoundError."""

    @abc.abstractmethod
    def delete_version(self, workspace: str, name: str, version: int) -> None:
        """Delete a version and the aliases that point at it. Raises NotFoundError."""

    @abc.abstractmethod
    def set_tag(self, workspace: str, name: str, version: int | None, key: str,
                value: str | None) -> None:
        """Set one tag (delete it when ``value`` is None; deleting a missing tag is a no-op) on
        the registered model (``version`` None) or on a version, atomically: concurrent tag
        writers never lose each other's tags. Raises NotFoundError."""

    # --- aliases -------------------------------------------------------------------------

    @abc.abstractmethod
    def set_alias(self, workspace: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at a version (moving it if set). Raises NotFoundError when the
        version does not exist."""

    @abc.abstractmethod
    def delete_alias(self, workspace: str, name: str, alias: str) -> None:
        """Remove an alias. Raises NotFoundError when it is not set."""
