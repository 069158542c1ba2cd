"""User registries (Azure ML registries): create, get, list, and the one translation of a
registry name into the backing workspace that holds its assets (``entities/registries.py``).

The model, component and environment services ask :meth:`RegistryService.workspace_of` when a
reference or a route names a registry other than the built-in ``azureml``; an unknown name is a
NotFoundError that names the registry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ember.entities.registries import (BUILTIN_REGISTRY, Registry, backing_workspace,
                                       is_builtin_registry)
from ember.entities.workspaces import Workspace
from ember.errors import (AlreadyExistsError, InvalidInputError, NotFoundError,
                          PermissionDeniedError)
from ember.services.workspaces import WorkspaceService
from ember.store.registries import RegistryStore

# as workspace names, a little shorter: the backing name adds "registry."
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")


class RegistryService:
    def __init__(self, registries: RegistryStore, workspaces: WorkspaceService) -> None:
        self._store = registries
        self.workspaces = workspaces
        self._known: set[str] = set()   # registries are never deleted: a name seen stays valid

    def create(self, registry: Registry) -> Registry:
        """Create a registry and its backing workspace. Raises InvalidInputError for a bad or
        reserved name (``azureml``), AlreadyExistsError for a taken one."""
        if is_builtin_registry(registry.name):
            raise InvalidInputError(
                f"registry name {registry.name!r} is reserved: {BUILTIN_REGISTRY!r} is Ember's "
                "built-in, read-only registry")
        if not _NAME.match(registry.name):
            raise InvalidInputError(
                f"registry name {registry.name!r} is invalid: start with a letter or digit and "
                "use only letters, digits, '_' and '-' (at most 200 characters)")
        registry.creation_time = registry.creation_time or time.time()
        created = self._store.create(registry)
        try:
            self.workspaces.create_backing(Workspace(
                name=backing_workspace(registry.name),
                display_name=f"registry {registry.name}", description=registry.description,
                creation_time=registry.creation_time))
        except AlreadyExistsError:
            pass   # left by an earlier attempt that failed between the two rows
        self._known.add(registry.name)
        return created

    def get(self, name: str) -> Registry:
        return self._store.get(name)

    def list(self) -> list[Registry]:
        return self._store.list()

    def workspace_of(self, name: str) -> str:
        """The backing workspace of user registry ``name`` (where its assets and role
        assignments are); raises NotFoundError naming the registry when there is none (cached:
        no query once a name was seen), PermissionDeniedError for ``azureml``."""
        if is_builtin_registry(name):
            raise PermissionDeniedError(
                f"the {BUILTIN_REGISTRY!r} registry is Ember's own and read-only: it has no "
                "uploads, assets or role assignments of a user registry")
        if name not in self._known:
            try:
                self._store.get(name)
            except NotFoundError:
                others = [r.name for r in self._store.list()]
                known = (f"the registries are {', '.join([BUILTIN_REGISTRY, *others])}"
                         if others else f"Ember has one registry, {BUILTIN_REGISTRY!r}")
                raise NotFoundError(f"registry {name!r} is not known to Ember: {known} "
                                    "('ember registry list'; 'ember registry create')") from None
            self._known.add(name)
        return backing_workspace(name)


@contextmanager
def registry_errors(registry: str) -> Iterator[None]:
    """A NotFoundError raised inside names the registry, not its backing workspace."""
    try:
        yield
    except NotFoundError as exc:
        message = exc.message.replace(f"workspace {backing_workspace(registry)!r}",
                                      f"registry {registry!r}")
        raise NotFoundError(message) from None
