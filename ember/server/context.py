"""The Platform: every service of one server process, built once from Settings."""

from __future__ import annotations

from ember.artifacts.store import ArtifactStore
from ember.services.data import DataService
from ember.services.datastores import DatastoreService
from ember.services.environments import EnvironmentService
from ember.services.uploads import UploadService
from ember.services.workspaces import WorkspaceService
from ember.settings import Settings
from ember.store.sql.store import SqlStore


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.resolved()
        self.store = SqlStore(self.settings.store_url)
        self.artifacts = ArtifactStore(self.settings.artifacts_url)
        self.workspaces = WorkspaceService(self.store.workspaces, self.store.datastores,
                                           self.artifacts)
        self.datastores = DatastoreService(self.store.datastores, self.artifacts)
        self.data = DataService(self.store.data, self.datastores)
        self.environments = EnvironmentService(self.store.environments)
        self.uploads = UploadService(self.artifacts, self.settings.home / "tmp")
        self.workspaces.ensure_default()

    def start(self) -> None:
        """Start background work (the job scheduler)."""

    def close(self) -> None:
        self.store.close()
