"""Content-addressed uploads: code snapshots and local input/data files sent at submit time."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO

from ember.artifacts.snapshot import extract_tar, tree_hash
from ember.artifacts.store import ArtifactStore
from ember.entities.datastores import DEFAULT_DATASTORE
from ember.errors import InvalidInputError
from ember.services.datastores import workspace_prefix

KINDS = ("code", "data")


def upload_prefix(workspace: str, kind: str, digest: str) -> str:
    if kind == "code":
        return f"{workspace_prefix(workspace)}/codes/{digest}"
    return f"{workspace_prefix(workspace)}/datastores/{DEFAULT_DATASTORE}/LocalUpload/{digest}"


def upload_uri(kind: str, digest: str) -> str:
    """How a job or asset refers to an upload."""
    if kind == "code":
        return f"codes/{digest}"
    return f"azureml://datastores/{DEFAULT_DATASTORE}/paths/LocalUpload/{digest}"


class UploadService:
    def __init__(self, artifacts: ArtifactStore, scratch: Path) -> None:
        self.artifacts = artifacts
        self.scratch = scratch

    def _check(self, kind: str, digest: str) -> None:
        if kind not in KINDS:
            raise InvalidInputError(f"upload kind {kind!r} is not one of {', '.join(KINDS)}")
        if not digest.isalnum() or len(digest) != 32:
            raise InvalidInputError(f"upload id {digest!r} is not a 32-character content hash")

    def exists(self, workspace: str, kind: str, digest: str) -> bool:
        self._check(kind, digest)
        return self.artifacts.exists(f"{upload_prefix(workspace, kind, digest)}.complete")

    def put_tar(self, workspace: str, kind: str, digest: str, body: IO[bytes]) -> str:
        """Store a tar.gz snapshot whose content must hash to ``digest``; returns its URI."""
        self._check(kind, digest)
        if self.exists(workspace, kind, digest):
            return upload_uri(kind, digest)
        self.scratch.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.scratch, prefix="upload-"))
        try:
            files = extract_tar(body, tmp / "tree")
            actual = tree_hash(files)
            if actual != digest:
                raise InvalidInputError(
                    f"upload content hashes to {actual}, not {digest}: the upload was corrupted "
                    "or changed while it was sent")
            prefix = upload_prefix(workspace, kind, digest)
            self.artifacts.put_local(tmp / "tree", prefix)
            # Written last: a snapshot without the marker is incomplete and is re-uploaded.
            self.artifacts.write_bytes(f"{prefix}.complete", b"")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return upload_uri(kind, digest)

    def check_code(self, workspace: str, uri: str | None) -> None:
        """A job's or component's ``code`` must be a snapshot uploaded to this workspace."""
        if uri is None:
            return
        digest = uri.removeprefix("codes/")
        if not uri.startswith("codes/") or not self.exists(workspace, "code", digest):
            raise InvalidInputError(
                f"code {uri!r} is not an uploaded snapshot of this workspace "
                "(the CLI and SDK upload the code folder for you)")

    def copy_code(self, source_workspace: str, workspace: str, uri: str) -> None:
        """Make code snapshot ``uri`` of ``source_workspace`` (a registry's) one of
        ``workspace`` too, where a job reads it; snapshots are content-addressed, so an
        existing copy is the same files."""
        digest = uri.removeprefix("codes/")
        if not uri.startswith("codes/") or self.exists(workspace, "code", digest):
            return
        if not self.exists(source_workspace, "code", digest):
            raise InvalidInputError(f"code {uri!r} is not an uploaded snapshot of "
                                    f"{source_workspace!r}")
        self.scratch.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.scratch, prefix="copy-"))
        try:
            self.artifacts.get_local(upload_prefix(source_workspace, "code", digest), tmp / "tree")
            prefix = upload_prefix(workspace, "code", digest)
            self.artifacts.put_local(tmp / "tree", prefix)
            self.artifacts.write_bytes(f"{prefix}.complete", b"")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
