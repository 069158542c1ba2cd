"""Datastores and the resolution of ``azureml://`` URIs to files."""

from __future__ import annotations

import time
from collections.abc import Callable

from ember.artifacts.store import ArtifactStore, safe_relpath
from ember.artifacts.uris import DatastoreUri, JobOutputUri, parse_azureml_uri
from ember.entities.datastores import Datastore
from ember.services.datastore_roots import DatastoreRoots
from ember.errors import InvalidInputError
from ember.entities.names import check_name
from ember.store.datastores import DatastoreStore


# (workspace, job name, output name) -> azureml://datastores/... URI of that output
JobOutputResolver = Callable[[str, str, str], str]


def workspace_prefix(workspace: str) -> str:
    return f"workspaces/{workspace}"


class DatastoreService:
    def __init__(self, datastores: DatastoreStore, artifacts: ArtifactStore,
                 roots: DatastoreRoots) -> None:
        self.datastores = datastores
        self.artifacts = artifacts
        self.roots = roots
        self._external: dict[str, ArtifactStore] = {}

    def create_or_update(self, workspace: str, datastore: Datastore) -> Datastore:
        check_name("datastore", datastore.name)
        if datastore.is_default or not datastore.root:
            raise InvalidInputError(
                f"datastore {datastore.name!r} needs a root (a local folder or fsspec URL)")
        datastore.root = self.roots.check(workspace, datastore.root)
        datastore.creation_time = datastore.creation_time or time.time()
        return self.datastores.create_or_update(workspace, datastore)

    def get(self, workspace: str, name: str) -> Datastore:
        return self.datastores.get(workspace, name)

    def list(self, workspace: str) -> list[Datastore]:
        return self.datastores.list(workspace)

    def locate(self, workspace: str, datastore: str, path: str) -> tuple[ArtifactStore, str]:
        """(store, path within it) for a path in a datastore; the datastore must exist."""
        ds = self.datastores.get(workspace, datastore)
        rel = safe_relpath(path)
        if not ds.root:
            prefix = f"{workspace_prefix(workspace)}/datastores/{ds.name}"
            return self.artifacts, f"{prefix}/{rel}" if rel else prefix
        # Checked again at each use: the allowed roots may have narrowed since the datastore was
        # made, and a symlink inside the root may have been swapped for one pointing out.
        self.roots.check(workspace, ds.root)
        store = self._external.get(ds.root)
        if store is None:
            store = self._external[ds.root] = ArtifactStore(ds.root)
        return store, rel

    def locate_uri(self, workspace: str, uri: str,
                   job_output_path: JobOutputResolver | None = None) -> tuple[ArtifactStore, str]:
        parsed = parse_azureml_uri(uri)
        if isinstance(parsed, JobOutputUri):
            if job_output_path is None:
                raise InvalidInputError(f"{uri!r}: job output URIs are not accepted here")
            base = job_output_path(workspace, parsed.job, parsed.output)
            target = parse_azureml_uri(base)
            assert isinstance(target, DatastoreUri)
            rel = f"{target.path.rstrip('/')}/{parsed.path}" if parsed.path else target.path
            return self.locate(workspace, target.datastore, rel)
        return self.locate(workspace, parsed.datastore, parsed.path)
