"""An fsspec-backed artifact store whose every path is confined to its root.

Paths are always relative, '/'-separated; ``..``, absolute paths, backslashes and NUL are refused
with an InvalidInputError before any I/O, so a user-supplied path can never leave the root.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec

from ember.artifacts.paths import safe_relpath
from ember.errors import InvalidInputError, NotFoundError


@dataclass
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None


class ArtifactStore:
    """Files under one root URL (a local folder by default; any fsspec URL works)."""

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(self.root_url)
        self.root = root.rstrip("/")
        self.is_local = self.fs.protocol in ("file", ("file", "local")) or "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def full(self, path: str) -> str:
        rel = safe_relpath(path)
        return f"{self.root}/{rel}" if rel else self.root

    def local_path(self, path: str) -> Path | None:
        """The local filesystem path, when the store is a local folder."""
        return Path(self.full(path)) if self.is_local else None

    def location(self, path: str) -> str:
        """Where ``path`` is, for another process on this machine to open: a local path for
        a local store, else its fsspec URL (``s3://bucket/key``; credentials are never part
        of it: that process reads them from its environment, as this one does)."""
        full = self.full(path)
        return full if self.is_local else str(self.fs.unstrip_protocol(full))

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self.full(path)))

    def isdir(self, path: str) -> bool:
        return bool(self.fs.isdir(self.full(path)))

    def makedirs(self, path: str) -> None:
        """Make the folder ``path``. An object store has no folders, only key prefixes: there
        an empty ``<path>/`` marker object (the S3 console's convention) makes the empty
        folder exist, and ``walk_files`` never lists it."""
        full = self.full(path)
        if self.is_local:
            Path(full).mkdir(parents=True, exist_ok=True)
        elif not self.fs.isdir(full):
            self.fs.touch(full + "/")
            self.fs.invalidate_cache(posixpath.dirname(full))

    def open_write(self, path: str) -> IO[bytes]:
        full = self.full(path)
        self.fs.makedirs(posixpath.dirname(full), exist_ok=True)
        return self.fs.open(full, "wb")  # type: ignore[no-any-return]

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.open_write(path) as fh:
            fh.write(data)

    def append_bytes(self, path: str, data: bytes) -> int:
        """Append and return the new size (local stores append in place)."""
        full = self.full(path)
        self.fs.makedirs(posixpath.dirname(full), exist_ok=True)
        with self.fs.open(full, "ab") as fh:
            fh.write(data)
        return int(self.fs.size(full))

    def open_read(self, path: str) -> IO[bytes]:
        full = self.full(path)
        if not self.fs.isfile(full):
            raise NotFoundError(f"artifact {safe_relpath(path)!r} does not exist")
        return self.fs.open(full, "rb")  # type: ignore[no-any-return]

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        with self.open_read(path) as fh:
            fh.seek(offset)
            return fh.read(length)

    def size(self, path: str) -> int:
        full = self.full(path)
        return int(self.fs.size(full)) if self.fs.isfile(full) else 0

    def list(self, path: str = "") -> list[FileInfo]:
        """Direct children of a folder (empty when it does not exist)."""
        full = self.full(path)
        if not self.fs.isdir(full):
            return []
        out = []
        for entry in self.fs.ls(full, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            is_dir = entry["type"] == "directory"
            out.append(FileInfo(name, is_dir, None if is_dir else int(entry.get("size") or 0)))
        return sorted(out, key=lambda f: f.path)

    def walk_files(self, path: str = "") -> Iterator[str]:
        """Every file under ``path``, as paths relative to ``path``."""
        full = self.full(path)
        if self.fs.isfile(full):
            yield posixpath.basename(full)
            return
        if not self.fs.isdir(full):
            return
        for f in sorted(self.fs.find(full)):
            if not f.endswith("/"):   # an object store's empty-folder marker (see makedirs)
                yield posixpath.relpath(f, full)

    def delete(self, path: str) -> None:
        full = self.full(path)
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)

    def put_local(self, local: Path, path: str) -> None:
        """Copy a local file or folder into the store."""
        if local.is_dir():
            for root, _dirs, files in os.walk(local):
                for name in files:
                    src = Path(root) / name
                    rel = src.relative_to(local).as_posix()
                    self.put_local(src, f"{path}/{rel}" if path else rel)
            return
        target = self.local_path(path)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
        else:
            self.fs.put_file(str(local), self.full(path))

    def get_local(self, path: str, local: Path) -> None:
        """Copy a stored file or folder to a local path."""
        full = self.full(path)
        if self.fs.isdir(full):
            for rel in self.walk_files(path):
                self.get_local(f"{safe_relpath(path)}/{rel}", local / rel)
            return
        local.parent.mkdir(parents=True, exist_ok=True)
        src = self.local_path(path)
        if src is not None:
            shutil.copyfile(src, local)
        else:
            self.fs.get_file(full, str(local))

    def info(self) -> dict[str, Any]:
        return {"root_url": self.root_url, "local": self.is_local}
