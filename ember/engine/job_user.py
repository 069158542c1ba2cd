"""Jobs as another OS user (``ember server start --job-user NAME``).

Without it a job runs as the server's user and can read what that user can: the database, the
keys, the owner token. With it the server (which must run as root to switch users) starts the
runners — and so every job process — as ``NAME``, and hands each job's folder, and the local
output folders it writes, to that user; the server's own files stay owner-only (0600), out of
the job's reach. Jobs of the one job user can still read one another's folders: per-person
isolation needs a job user per person (a server per team).
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ember.errors import InvalidInputError


@dataclass(frozen=True)
class JobUser:
    name: str
    uid: int
    gid: int


def resolve_job_user(name: str) -> JobUser | None:
    """The OS account ``name`` names, checked; None for ``""`` (jobs run as the server)."""
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InvalidInputError(f"--job-user {name}: no such OS user (make one with "
                                f"'useradd --system {name}')") from None
    if entry.pw_uid == 0:
        raise InvalidInputError(f"--job-user {name}: that is root; jobs need an unprivileged "
                                "user")
    if os.geteuid() != 0:
        raise InvalidInputError(f"--job-user {name}: the server must run as root to start jobs "
                                "as another user")
    user = JobUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    import ember

    for needed in (Path(sys.executable).resolve(), Path(sysconfig.get_paths()["stdlib"]),
                   Path(ember.__file__).resolve().parent):
        blocked = _blocked(needed, user)
        if blocked is not None:
            raise InvalidInputError(
                f"--job-user {name}: it cannot reach {needed} ({blocked} is closed to it), "
                "which every job needs: install Python and Ember where other users can read "
                "them")
    return user


def _blocked(path: Path, user: JobUser) -> Path | None:
    """The first folder on the way to ``path`` that ``user`` may not pass, or None."""
    for folder in (*reversed(path.parents), path):
        try:
            st = folder.stat()
        except OSError:
            return folder
        if not folder.is_dir():
            continue
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return folder
    return None


def hand_over(path: Path, user: JobUser) -> None:
    """Give ``path`` and everything under it (not following links) to ``user``."""
    os.lchown(path, user.uid, user.gid)
    if path.is_symlink() or not path.is_dir():
        return
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), user.uid, user.gid)
