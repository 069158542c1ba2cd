"""Where a workspace's prompt flows are kept: each flow a folder of files (``flow.dag.yaml`` and
its nodes' ``.py`` / ``.jinja2`` files) in the artifact store, under
``workspaces/<ws>/flows/<name>/``, beside the workspace's code snapshots and uploads.

:class:`FlowFileStore` is the interface; :class:`ArtifactFlowFiles` keeps the files in the
artifact store (a local folder or S3). Paths are checked here too (:func:`flow_path`): a
relative POSIX path inside the flow's folder, nothing else.
"""

from __future__ import annotations

import abc
import os
import posixpath
import re
import threading
from pathlib import Path

from ember.artifacts.store import ArtifactStore
from ember.errors import InvalidInputError, NotFoundError
from ember.services.datastores import workspace_prefix

_FLOW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,199}$")
MAX_FILE_BYTES = 1 << 20     # one file of a flow: code or a template, not data
MAX_FILES = 200


def check_flow_name(name: str) -> str:
    if not _FLOW_NAME.match(name or "") or ".." in name:
        raise InvalidInputError(
            f"flow name {name!r} is invalid: start with a letter or digit, then letters, "
            "digits, '_', '-' or '.' (at most 100 characters)")
    return name


def flow_path(path: str) -> str:
    """``path`` as a clean relative path inside a flow's folder; InvalidInputError for an
    absolute path, ``..``, a backslash, a hidden or empty part."""
    text = (path or "").strip()
    parts = text.split("/")
    if (not text or text.startswith("/") or "\\" in text or "\x00" in text
            or any(not _PART.match(p) for p in parts)):
        raise InvalidInputError(
            f"file path {path!r} is not a path inside the flow's folder: use a relative path "
            "of letters, digits, '_', '-', '.' and spaces, without '..' or a leading '/'")
    clean = posixpath.normpath(text)
    if clean != text or clean.startswith(".."):
        raise InvalidInputError(f"file path {path!r} is not a path inside the flow's folder")
    return clean


class FlowFileStore(abc.ABC):
    """The files of a workspace's flows."""

    @abc.abstractmethod
    def list_flows(self, workspace: str) -> list[str]:
        """The names of the workspace's flows, sorted."""

    @abc.abstractmethod
    def exists(self, workspace: str, name: str) -> bool:
        """Whether flow ``name`` exists."""

    @abc.abstractmethod
    def list_files(self, workspace: str, name: str) -> dict[str, int]:
        """Path → size in bytes of every file of the flow; NotFoundError for no such flow."""

    @abc.abstractmethod
    def read(self, workspace: str, name: str, path: str) -> bytes:
        """A file's bytes; NotFoundError naming the file when there is none."""

    @abc.abstractmethod
    def write(self, workspace: str, name: str, path: str, data: bytes) -> None:
        """Create or replace a file (InvalidInputError past :data:`MAX_FILE_BYTES`)."""

    @abc.abstractmethod
    def delete_file(self, workspace: str, name: str, path: str) -> None:
        """Remove a file (NotFoundError when there is none)."""

    @abc.abstractmethod
    def delete_flow(self, workspace: str, name: str) -> None:
        """Remove the flow and all its files."""

    @abc.abstractmethod
    def copy_to(self, workspace: str, name: str, folder: Path) -> None:
        """Copy the flow's files into a local ``folder``."""


class ArtifactFlowFiles(FlowFileStore):
    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    @staticmethod
    def _root(workspace: str, name: str | None = None) -> str:
        base = f"{workspace_prefix(workspace)}/flows"
        return f"{base}/{check_flow_name(name)}" if name is not None else base

    def _file(self, workspace: str, name: str, path: str) -> str:
        return f"{self._root(workspace, name)}/{flow_path(path)}"

    def list_flows(self, workspace: str) -> list[str]:
        return sorted(f.path for f in self.artifacts.list(self._root(workspace))
                      if f.is_dir and not f.path.startswith("."))

    def exists(self, workspace: str, name: str) -> bool:
        return self.artifacts.isdir(self._root(workspace, name))

    def _check(self, workspace: str, name: str) -> None:
        if not self.exists(workspace, name):
            raise NotFoundError(f"flow {name!r} not found in workspace {workspace!r}")

    def list_files(self, workspace: str, name: str) -> dict[str, int]:
        self._check(workspace, name)
        root = self._root(workspace, name)
        return {rel: self.artifacts.size(f"{root}/{rel}")
                for rel in self.artifacts.walk_files(root)}

    def read(self, workspace: str, name: str, path: str) -> bytes:
        self._check(workspace, name)
        full = self._file(workspace, name, path)
        if not self.artifacts.exists(full) or self.artifacts.isdir(full):
            raise NotFoundError(f"flow {name!r} has no file {path!r}")
        with self.artifacts.open_read(full) as fh:
            return fh.read(MAX_FILE_BYTES + 1)

    def write(self, workspace: str, name: str, path: str, data: bytes) -> None:
        if len(data) > MAX_FILE_BYTES:
            raise InvalidInputError(f"file {path!r} is {len(data)} bytes: a flow's file may "
                                    f"hold at most {MAX_FILE_BYTES} bytes")
        full = self._file(workspace, name, path)
        if self.artifacts.isdir(full):
            raise InvalidInputError(f"{path!r} is a folder of flow {name!r}, not a file")
        local = self.artifacts.local_path(full)
        if local is None:   # an object store: a put replaces the object whole
            self.artifacts.write_bytes(full, data)
            return
        # a reader (a run being submitted, a page) never sees half a file
        # (written beside the flows, not inside one: a listing of the flow never shows it)
        local.parent.mkdir(parents=True, exist_ok=True)
        staging = self.artifacts.local_path(f"{self._root(workspace)}/.writing")
        assert staging is not None
        staging.mkdir(parents=True, exist_ok=True)
        partial = staging / f"{os.getpid()}-{threading.get_ident()}-{local.name}"
        partial.write_bytes(data)
        os.replace(partial, local)

    def delete_file(self, workspace: str, name: str, path: str) -> None:
        full = self._file(workspace, name, path)
        if not self.artifacts.exists(full) or self.artifacts.isdir(full):
            raise NotFoundError(f"flow {name!r} has no file {path!r}")
        self.artifacts.delete(full)

    def delete_flow(self, workspace: str, name: str) -> None:
        self._check(workspace, name)
        self.artifacts.delete(self._root(workspace, name))

    def copy_to(self, workspace: str, name: str, folder: Path) -> None:
        self._check(workspace, name)
        self.artifacts.get_local(self._root(workspace, name), folder)
