from __future__ import annotations

import re
import time

from ember.artifacts.store import ArtifactStore
from ember.entities.datastores import DEFAULT_DATASTORE, Datastore
from ember.entities.registries import is_backing_workspace
from ember.entities.workspaces import DEFAULT_WORKSPACE, Workspace
from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from ember.store.datastores import DatastoreStore
from ember.store.workspaces import WorkspaceStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
KNOWN_SECONDS = 5.0


class WorkspaceService:
    def __init__(self, workspaces: WorkspaceStore, datastores: DatastoreStore,
                 artifacts: ArtifactStore) -> None:
        self.workspaces = workspaces
        self.datastores = datastores
        self.artifacts = artifacts
        # name -> when it was last seen live: the access path reads the database for a name
        # at most every KNOWN_SECONDS (a deletion through another process shows within them)
        self._known: dict[str, float] = {}

    def ensure_default(self) -> Workspace:
        try:
            return self.workspaces.get(DEFAULT_WORKSPACE)
        except NotFoundError:
            return self.create(Workspace(name=DEFAULT_WORKSPACE, display_name="Default"))

    def create(self, workspace: Workspace) -> Workspace:
        if not _NAME.match(workspace.name):
            raise InvalidInputError(
                f"workspace name {workspace.name!r} is invalid: use letters, digits, '_' and '-'")
        try:
            old = self.workspaces.get(workspace.name)
        except NotFoundError:
            return self._create(workspace)
        if old.deleted_at is not None:
            raise AlreadyExistsError(f"workspace {workspace.name!r} was deleted; its name "
                                     "stays taken (its runs, jobs and files are kept)")
        raise AlreadyExistsError(f"workspace {workspace.name!r} already exists")

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
        """Raises NotFoundError, also for a deleted workspace."""
        found = self.workspaces.get(name)
        if found.deleted_at is not None:
            raise NotFoundError(f"workspace {name!r} was deleted")
        return found

    def exists(self, name: str) -> bool:
        """Cheap check for the access path: a name seen live costs no query for
        KNOWN_SECONDS."""
        now = time.monotonic()
        if now - self._known.get(name, -KNOWN_SECONDS) < KNOWN_SECONDS:
            return True
        self.get(name)  # raises NotFoundError
        self._known[name] = now
        return True

    def list(self) -> list[Workspace]:
        """The workspaces, less deleted ones and registries' backing ones."""
        return [w for w in self.workspaces.list()
                if w.deleted_at is None and not is_backing_workspace(w.name)]

    def delete(self, name: str) -> Workspace:
        """Soft-delete (as Azure's ``az ml workspace delete``): hidden and unreachable from
        now on, its name taken; its jobs, runs, models and files stay where they are. The
        caller (``Platform.delete_workspace``) first makes sure nothing runs in it."""
        if name == DEFAULT_WORKSPACE:
            raise InvalidInputError("the default workspace cannot be deleted")
        self.get(name)
        deleted = self.workspaces.mark_deleted(name, time.time())
        self._known.pop(name, None)
        return deleted
