from __future__ import annotations

import re
import time

from ember.artifacts.store import ArtifactStore
from ember.entities.datastores import DEFAULT_DATASTORE, Datastore
from ember.entities.registries import is_backing_workspace
from ember.entities.workspaces import DEFAULT_WORKSPACE, Workspace
from ember.errors import InvalidInputError, NotFoundError
from ember.store.datastores import DatastoreStore
from ember.store.workspaces import WorkspaceStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class WorkspaceService:
    def __init__(self, workspaces: WorkspaceStore, datastores: DatastoreStore,
                 artifacts: ArtifactStore) -> None:
        self.workspaces = workspaces
        self.datastores = datastores
        self.artifacts = artifacts
        self._known: set[str] = set()

    def ensure_default(self) -> Workspace:
        try:
            return self.workspaces.get(DEFAULT_WORKSPACE)
        except NotFoundError:
            return self.create(Workspace(name=DEFAULT_WORKSPACE, display_name="Default"))

    def create(self, workspace: Workspace) -> Workspace:
        if not _NAME.match(workspace.name):
            raise InvalidInputError(
                f"workspace name {workspace.name!r} is invalid: use letters, digits, '_' and '-'")
        return self._create(workspace)

    def create_backing(self, workspace: Workspace) -> Workspace:
        """A registry's backing workspace (``registry.<name>``, a name ``create`` refuses);
        only ``services/registries.py`` makes one."""
        if not is_backing_workspace(workspace.name):
            raise InvalidInputError(f"{workspace.name!r} is not a registry's backing name")
        return self._create(workspace)

    def _create(self, workspace: Workspace) -> Workspace:
        workspace.creation_time = workspace.creation_time or time.time()
        created = self.workspaces.create(workspace)
        self.datastores.create_or_update(workspace.name, Datastore(
            name=DEFAULT_DATASTORE, type="local", root="", is_default=True,
            description="The workspace's default datastore, inside its artifact store.",
            creation_time=time.time()))
        return created

    def get(self, name: str) -> Workspace:
        return self.workspaces.get(name)

    def exists(self, name: str) -> bool:
        """Cheap check for the access path: workspaces are never deleted, so a name seen once
        stays valid and costs no query afterwards."""
        if name in self._known:
            return True
        self.workspaces.get(name)  # raises NotFoundError
        self._known.add(name)
        return True

    def list(self) -> list[Workspace]:
        """The workspaces, less registries' backing ones."""
        return [w for w in self.workspaces.list() if not is_backing_workspace(w.name)]
