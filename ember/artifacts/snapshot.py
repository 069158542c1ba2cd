"""Content-addressed snapshots of local folders (code, uploaded inputs).

The file list honours ``.gitignore`` and ``.amlignore`` (``.amlignore`` wins when both exist, as in
Azure ML) and never includes ``.git``. The hash covers each file's relative path and contents, so
the same tree always gives the same id and a changed byte gives a new one.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path
from typing import IO

import pathspec

from ember.artifacts.paths import safe_relpath
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
    """(relative posix path, absolute path) of every file to snapshot, sorted.

    Symbolic links are followed, folders and files alike, as Azure ML's snapshot does: the
    snapshot holds what the link points at. A link that loops back to a folder it sits in, or
    that points at nothing, is an InvalidInputError naming it (silently dropping it would run
    the job without files the user sees in their folder).
    """
    if root.is_file():
        return [(root.name, root)]
    if not root.is_dir():
        raise InvalidInputError(f"{root} does not exist or is not a folder")
    spec = _ignore_spec(root)
    out: list[tuple[str, Path]] = []
    # The real paths of the folders above each walked folder: a link into one of them loops.
    chains: dict[str, tuple[str, ...]] = {str(root): (os.path.realpath(root),)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        chain = chains.pop(dirpath)
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in _ALWAYS_IGNORED or (spec and spec.match_file(rel + "/")):
                continue
            full = os.path.join(dirpath, d)
            real = os.path.realpath(full)
            if os.path.islink(full) and any(a == real or a.startswith(real + os.sep)
                                            for a in chain):
                raise InvalidInputError(f"{rel} in {root} is a symbolic link to a folder that "
                                        "contains it (a loop); remove the link or ignore it "
                                        "in .amlignore")
            chains[full] = (*chain, real)
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if spec and spec.match_file(rel):
                continue
            full_file = Path(dirpath) / name
            if full_file.is_file():
                out.append((rel, full_file))
            elif full_file.is_symlink() and not full_file.exists():
                raise InvalidInputError(f"{rel} in {root} is a symbolic link to nothing "
                                        f"({os.readlink(full_file)}); remove it or ignore it "
                                        "in .amlignore")
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
            for m in members:
                try:
                    _extract_member(tar, m, target)
                except OSError as exc:   # e.g. a file and a folder of the same name
                    raise InvalidInputError(f"snapshot member {m.name!r} cannot be written: "
                                            f"{exc.strerror}") from None
    except tarfile.TarError as exc:
        raise InvalidInputError(f"snapshot upload is not a readable tar archive: {exc}") from exc
    return collect_files_plain(target)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Write one checked member (a plain file or folder) under ``target``.

    By hand rather than ``extractall(filter="data")``: that filter only exists from Python
    3.11.4 (and 3.12), and ``requires-python`` admits 3.11.0, which Debian 12 ships as 3.11.2.
    What the filter would do is done here: the name is already confined to ``target``, links
    and devices are refused, and the mode keeps only the owner's execute bit on rw-r--r--.
    """
    dest = target / safe_relpath(member.name, allow_empty=False)
    if member.isdir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise InvalidInputError(f"snapshot member {member.name!r} has no content")
    with source, open(dest, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    dest.chmod(0o755 if member.mode & 0o100 else 0o644)


def collect_files_plain(root: Path) -> list[tuple[str, Path]]:
    """Every file under root, no ignore rules (for verifying an uploaded snapshot)."""
    out = []
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full))
    return sorted(out)
