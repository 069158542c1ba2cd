"""Content-addressed snapshots of local folders (code, uploaded inputs).

The file list honours ``.gitignore`` and ``.amlignore`` (``.amlignore`` wins when both exist, as in
Azure ML) and never includes ``.git``. The hash covers each file's relative path and contents, so
the same tree always gives the same id and a changed byte gives a new one.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import IO

import pathspec

from ember.artifacts.store import safe_relpath
from ember.errors import InvalidInputError

_ALWAYS_IGNORED = {".git", "__pycache__", ".ipynb_checkpoints"}


def _ignore_spec(root: Path) -> pathspec.PathSpec | None:
    for name in (".amlignore", ".gitignore"):
        f = root / name
        if f.is_file():
            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
            return pathspec.PathSpec.from_lines("gitwildmatch", lines)
    return None


def collect_files(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, absolute path) of every file to snapshot, sorted."""
    if root.is_file():
        return [(root.name, root)]
    if not root.is_dir():
        raise InvalidInputError(f"{root} does not exist or is not a folder")
    spec = _ignore_spec(root)
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in _ALWAYS_IGNORED or (spec and spec.match_file(rel + "/")):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if spec and spec.match_file(rel):
                continue
            full = Path(dirpath) / name
            if full.is_file():
                out.append((rel, full))
    return sorted(out)


def tree_hash(files: list[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for rel, full in files:
        fh = hashlib.sha256()
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                fh.update(chunk)
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + fh.digest())
    return h.hexdigest()[:32]


def write_tar(files: list[tuple[str, Path]], out: IO[bytes]) -> None:
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        for rel, full in files:
            tar.add(str(full), arcname=rel, recursive=False)


def tar_bytes(files: list[tuple[str, Path]]) -> bytes:
    buf = io.BytesIO()
    write_tar(files, buf)
    return buf.getvalue()


def extract_tar(data: IO[bytes], target: Path) -> list[tuple[str, Path]]:
    """Extract a snapshot tar into ``target``, refusing members that would escape it."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=data, mode="r:*") as tar:
            members = tar.getmembers()
            for m in members:
                safe_relpath(m.name, allow_empty=False)
                if not (m.isfile() or m.isdir()):
                    raise InvalidInputError(
                        f"snapshot member {m.name!r} is a link or device; only files are allowed")
            tar.extractall(target, members=members, filter="data")
    except tarfile.TarError as exc:
        raise InvalidInputError(f"snapshot upload is not a readable tar archive: {exc}") from exc
    return collect_files_plain(target)


def collect_files_plain(root: Path) -> list[tuple[str, Path]]:
    """Every file under root, no ignore rules (for verifying an uploaded snapshot)."""
    out = []
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full))
    return sorted(out)
