"""Where a datastore may be rooted: the admin's allowed roots, never the server's own state.

A datastore's root is a folder the server reads and writes for any caller of the workspace, so a
root at ``/etc``, at ``EMBER_HOME`` (the database, ``secrets.key``, the router's token) or at
another workspace's folder of the artifact store would hand those files to the workspace. A
local root must therefore lie under one of the roots an admin allows (``ember server start
--allowed-datastore-root PATH``, repeatable, or ``EMBER_ALLOWED_DATASTORE_ROOTS``, colon
separated; by default the folder the server was started in), must not hold or lie inside the
server's home or another workspace's folder, and is checked again, symlinks resolved, each time
it is used. ``root: "/"`` is the server's working folder (the top of what a datastore may see,
never the filesystem's root), and a relative root is relative to it. fsspec URLs (``s3://``,
``abfs://``...) are not local folders: their access is the object store's business.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ember.errors import InvalidInputError

SETTING = "--allowed-datastore-root / EMBER_ALLOWED_DATASTORE_ROOTS"


def parse_allowed_roots(value: str) -> list[str]:
    """``EMBER_ALLOWED_DATASTORE_ROOTS``'s colon-separated folders (empty parts dropped)."""
    return [part for part in value.split(os.pathsep) if part.strip()]


def _local_path(root: str) -> str | None:
    """The local path a root names, or None for a URL of another filesystem."""
    for prefix in ("file://", "local://"):
        if root.startswith(prefix):
            return root[len(prefix):] or "/"
    if "://" in root or root.startswith(("memory:", "s3:", "gs:", "az:", "abfs:")):
        return None
    return root


def _within(path: Path, top: Path) -> bool:
    return path == top or path.is_relative_to(top)


class DatastoreRoots:
    """The rule every local datastore root is checked against (built once from Settings)."""

    def __init__(self, *, working_dir: Path, allowed: Sequence[Path], home: Path,
                 artifacts_root: Path | None) -> None:
        self.working_dir = Path(os.path.realpath(working_dir))
        self.allowed = [Path(os.path.realpath(p)) for p in allowed] or [self.working_dir]
        self.home = Path(os.path.realpath(home))
        self.artifacts_root = (Path(os.path.realpath(artifacts_root))
                               if artifacts_root is not None else None)

    def check(self, workspace: str, root: str) -> str:
        """The root to store and use: a local one as a resolved absolute path, a URL as given.

        Raises InvalidInputError (400) when a local root lies outside the allowed roots, holds
        or lies inside the server's state, or is another workspace's folder.
        """
        local = _local_path(root)
        if local is None:
            return root
        if local.strip("/") == "":
            path = self.working_dir
        else:
            path = Path(os.path.realpath(self.working_dir / Path(local).expanduser()))
        if self.artifacts_root is not None:
            own = Path(os.path.realpath(self.artifacts_root / "workspaces" / workspace))
            if _within(path, own):
                return str(path)
            if _within(path, self.artifacts_root / "workspaces"):
                raise InvalidInputError(
                    f"datastore root {root!r} is another workspace's folder")
            if _within(path, self.artifacts_root) or _within(self.artifacts_root, path):
                raise InvalidInputError(
                    f"datastore root {root!r} would expose the server's artifact store "
                    "(every workspace's files)")
        if _within(path, self.home) or _within(self.home, path):
            raise InvalidInputError(
                f"datastore root {root!r} would expose the server's home folder {self.home} "
                "(its database and keys)")
        if not any(_within(path, top) for top in self.allowed):
            allowed = ", ".join(str(p) for p in self.allowed)
            raise InvalidInputError(
                f"datastore root {root!r} ({path}) is outside the roots the server allows "
                f"({allowed}); an admin can allow more with {SETTING}")
        return str(path)
