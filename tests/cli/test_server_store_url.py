"""The store URL's password stays off the command line and out of every message (issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ember.settings import Settings, mask_url
from tests.conftest import ServerProc

SECRET = "s3cret-Pw-7f1"


def _start(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ember.cli.main", "server", "start", "--home", str(home),
         "--port", "0", *args], capture_output=True, text=True, timeout=120)


def test_a_password_on_the_command_line_is_warned_about_once_and_never_printed(
        tmp_path: Path) -> None:
    # nothing listens on port 1: the server fails to start, after the warning
    r = _start(tmp_path / "h", "--store-url", f"postgresql://bob:{SECRET}@127.0.0.1:1/db")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert SECRET not in out
    assert out.count("visible to every local user") == 1
    assert "EMBER_STORE_URL" in r.stderr and "--store-url-file" in r.stderr


def test_an_unsupported_store_url_is_refused_without_its_password(tmp_path: Path) -> None:
    r = _start(tmp_path / "h", "--store-url", f"mysql://bob:{SECRET}@127.0.0.1:1/db")
    assert r.returncode != 0
    assert SECRET not in r.stdout + r.stderr
    assert "mysql://bob:***@127.0.0.1:1/db" in r.stderr


def test_the_store_url_from_the_environment(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("EMBER_STORE_URL", f"sqlite:///{db}")
    srv = ServerProc(tmp_path / "home").start()
    try:
        assert db.is_file() and not (srv.home / "ember.db").exists()
        assert "visible to every local user" not in (srv.home / "server-test.log").read_text()
    finally:
        srv.stop()


def test_the_store_url_from_a_file(tmp_path: Path) -> None:
    db = tmp_path / "from-file.db"
    url_file = tmp_path / "store-url"
    url_file.write_text(f"sqlite:///{db}\n")
    url_file.chmod(0o600)
    srv = ServerProc(tmp_path / "home", extra=["--store-url-file", str(url_file)]).start()
    try:
        assert db.is_file() and not (srv.home / "ember.db").exists()
    finally:
        srv.stop()
    r = _start(tmp_path / "h", "--store-url", "sqlite:///x.db", "--store-url-file",
               str(url_file))
    assert r.returncode != 0 and "not both" in r.stderr


def test_mask_url_and_settings_repr() -> None:
    url = f"postgresql://bob:{SECRET}@db:5432/ember?sslmode=require"
    assert mask_url(url) == "postgresql://bob:***@db:5432/ember?sslmode=require"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert SECRET not in repr(Settings(store_url=url))
