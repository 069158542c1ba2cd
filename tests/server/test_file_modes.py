"""The server's state files are readable by their owner only (issue 14, item 7)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ember.serving._supervisor_state import SavedState, write_state
from ember.serving.processes import PidRegistry
from ember.store.sql.engine import make_engine
from tests.conftest import ServerProc


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_server_writes_its_database_key_and_server_file_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)   # the usual umask, which would leave new files world-readable
    try:
        srv = ServerProc(tmp_path / "home").start()
    finally:
        os.umask(old)
    try:
        home = srv.home
        for name in ("ember.db", "secrets.key", "server.json"):
            assert mode(home / name) == 0o600, name
        for extra in ("ember.db-wal", "ember.db-shm", "serving/pids.json"):
            if (home / extra).exists():
                assert mode(home / extra) == 0o600, extra
    finally:
        srv.stop()


def test_an_older_world_readable_database_and_key_are_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "ember.db"
    db.touch()
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600
    from ember.services._secrets import load_or_create_key

    load_or_create_key(tmp_path)
    key = tmp_path / "secrets.key"
    key.chmod(0o644)
    load_or_create_key(tmp_path)
    assert mode(key) == 0o600


def test_serving_state_files_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    # a leftover temporary file from a crash, world-readable, must not pass its mode on
    leftover = tmp_path / f".state.json.{os.getpid()}.tmp"
    leftover.write_text("{}")
    leftover.chmod(0o644)
    write_state(state, SavedState(token="router-admin-token"))
    assert mode(state) == 0o600
    pids = PidRegistry(tmp_path / "pids.json")
    (tmp_path / "pids.tmp").write_text("{}")
    (tmp_path / "pids.tmp").chmod(0o644)
    pids.stop_leftovers()
    assert mode(tmp_path / "pids.json") == 0o600
