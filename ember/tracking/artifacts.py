"""The ``mlflow-artifacts`` file service of a workspace, kept inside Ember's ArtifactStore.

The mlflow-artifacts path ``<p>`` of workspace W lives at ``workspaces/W/mlartifacts/<p>``;
every path passes ``safe_relpath`` first, so ``..`` and absolute paths are refused (400).
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ember.artifacts.store import ArtifactStore, FileInfo, safe_relpath
from ember.errors import InvalidInputError, NotFoundError
from ember.store.tracking import TrackingStore

CHUNK = 1 << 20


@dataclass
class ArtifactDownload:
    """A stored file: its local path when the store is a folder, else a chunk iterator."""

    local_path: Path | None
    chunks: Iterator[bytes] | None
    media_type: str


class ArtifactUpload:
    """A file being written; ``abort`` removes what was written so far."""

    def __init__(self, store: ArtifactStore, path: str) -> None:
        self._store = store
        self._path = path
        self._fh: IO[bytes] = store.open_write(path)

    def write(self, data: bytes) -> None:
        self._fh.write(data)

    def commit(self) -> None:
        self._fh.close()

    def abort(self) -> None:
        try:
            self._fh.close()
        finally:
            self._store.delete(self._path)


def _read_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def media_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


class TrackingArtifactsMixin:
    artifacts: ArtifactStore
    store: TrackingStore
    run_artifact_prefix: Callable[[str, str], str]  # provided by TrackingService

    def mlflow_artifact_path(self, workspace: str, path: str) -> str:
        """ArtifactStore path of an mlflow-artifacts path. Raises InvalidInputError."""
        rel = safe_relpath(path)
        base = f"workspaces/{workspace}/mlartifacts"
        return f"{base}/{rel}" if rel else base

    def start_artifact_upload(self, workspace: str, path: str) -> ArtifactUpload:
        target = self.mlflow_artifact_path(workspace, path)
        if not safe_relpath(path):
            raise InvalidInputError("an artifact upload needs a file path")
        if self.artifacts.isdir(target):
            raise InvalidInputError(f"artifact path {path!r} is a directory")
        return ArtifactUpload(self.artifacts, target)

    def artifact_download(self, workspace: str, path: str) -> ArtifactDownload:
        target = self.mlflow_artifact_path(workspace, path)
        kind = media_type(target)
        local = self.artifacts.local_path(target)
        if local is not None:
            if not local.is_file():
                raise NotFoundError(f"artifact {safe_relpath(path)!r} does not exist")
            return ArtifactDownload(local, None, kind)
        return ArtifactDownload(None, _read_chunks(self.artifacts.open_read(target)), kind)

    def list_mlflow_artifacts(self, workspace: str, path: str) -> list[FileInfo]:
        """Direct children of a folder, by name (a file or a missing path lists nothing)."""
        return self.artifacts.list(self.mlflow_artifact_path(workspace, path))

    def delete_mlflow_artifact(self, workspace: str, path: str) -> None:
        """Delete a file or folder; the root itself is refused (it holds every experiment)."""
        target = self.mlflow_artifact_path(workspace, path)
        if not safe_relpath(path):
            raise InvalidInputError("refusing to delete the root of the artifact store")
        self.artifacts.delete(target)

    def list_run_artifacts(self, workspace: str, run_id: str, path: str
                           ) -> tuple[str, list[FileInfo]]:
        """(the run's artifact URI, children of ``path`` with run-relative paths)."""
        info = self.store.get_run_info(workspace, run_id)
        rel = safe_relpath(path)
        root = self.run_artifact_prefix(workspace, run_id)
        files = self.artifacts.list(f"{root}/{rel}" if rel else root)
        return info.artifact_uri, [
            FileInfo(posixpath.join(rel, f.path) if rel else f.path, f.is_dir, f.file_size)
            for f in files]
