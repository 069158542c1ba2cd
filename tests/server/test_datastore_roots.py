"""Datastore roots must lie under the roots an admin allows (issue 14, item 7)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ember.server.app import create_app
from ember.settings import Settings

WS = "/api/v1/workspaces/default"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@contextlib.contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, start_scheduler=False)
    with TestClient(app) as tc:
        tc.headers["Authorization"] = f"Bearer {app.state.platform.owner_token}"
        yield tc


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    top = tmp_path / "data"
    (top / "lake").mkdir(parents=True)
    (top / "lake" / "x.txt").write_text("in the lake")
    return top


@pytest.fixture
def api(home: Path, allowed: Path, tmp_path: Path) -> Iterator[TestClient]:
    work = tmp_path / "work"
    work.mkdir()
    with _client(Settings(home=home, port=0, allowed_datastore_roots=(str(allowed),),
                          working_dir=str(work))) as tc:
        yield tc


def _put(api: TestClient, name: str, root: str, workspace: str = "default") -> object:
    return api.put(f"/api/v1/workspaces/{workspace}/datastores/{name}",
                   json={"name": name, "root": root})


def test_a_root_under_an_allowed_root_is_taken_and_read(api: TestClient, allowed: Path) -> None:
    r = _put(api, "lake", str(allowed / "lake"))
    assert r.status_code == 200, r.text
    assert r.json()["root"] == str(allowed / "lake")


@pytest.mark.parametrize("root", ["/etc", "file:///etc", "/", "../outside", "/usr/lib"])
def test_a_root_outside_the_allowed_roots_is_a_400_naming_the_setting(
        api: TestClient, root: str) -> None:
    r = _put(api, "etc", root)
    assert r.status_code == 400, r.text
    assert "--allowed-datastore-root" in r.json()["message"]
    assert "EMBER_ALLOWED_DATASTORE_ROOTS" in r.json()["message"]
    assert api.get(f"{WS}/datastores/etc").status_code == 404


def test_slash_is_the_servers_working_folder(home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    with _client(Settings(home=home, port=0, working_dir=str(work))) as api:
        r = _put(api, "top", "/")
        assert r.status_code == 200, r.text
        assert r.json()["root"] == str(work)
        assert _put(api, "rel", "sub").json()["root"] == str(work / "sub")
        # the default allowed root is the working folder: nothing above it
        assert _put(api, "up", str(tmp_path)).status_code == 400


def test_the_servers_home_and_other_workspaces_are_refused(home: Path, tmp_path: Path) -> None:
    # even when an admin allows a folder that holds the server's home
    with _client(Settings(home=home, port=0, allowed_datastore_roots=(str(tmp_path),),
                          working_dir=str(tmp_path))) as api:
        assert api.post("/api/v1/workspaces", json={"name": "other"}).status_code in (200, 201)
        other = home / "artifacts" / "workspaces" / "other"
        r = _put(api, "steal", str(other))
        assert r.status_code == 400 and "another workspace" in r.json()["message"]
        for root in (str(home), str(home / "secrets.key"), str(tmp_path),
                     str(home / "artifacts"), "/"):
            r = _put(api, "state", root)
            assert r.status_code == 400, (root, r.text)
        # its own folder in the artifact store stays allowed
        own = home / "artifacts" / "workspaces" / "default" / "datastores" / "mine"
        assert _put(api, "mine", str(own)).status_code == 200


def test_a_symlink_out_of_an_allowed_root_is_refused(api: TestClient, allowed: Path) -> None:
    os.symlink("/etc", allowed / "etc-link")
    r = _put(api, "link", str(allowed / "etc-link"))
    assert r.status_code == 400 and "outside the roots" in r.json()["message"]


def test_a_root_is_checked_again_when_used(api: TestClient, allowed: Path) -> None:
    assert _put(api, "moving", str(allowed / "lake")).status_code == 200
    (allowed / "lake" / "x.txt").unlink()
    (allowed / "lake").rmdir()
    os.symlink("/etc", allowed / "lake")
    r = api.get(f"{WS}/datastores/moving")
    assert r.status_code == 200
    r = api.post(f"{WS}/data", json={"name": "d", "version": "1", "type": "uri_file",
                                     "path": "azureml://datastores/moving/paths/hostname"})
    assert r.status_code == 400, r.text
    assert "outside the roots" in r.json()["message"]


def test_fsspec_urls_are_not_local_folders(api: TestClient) -> None:
    r = _put(api, "mem", "memory://bucket/prefix")
    assert r.status_code == 200 and r.json()["root"] == "memory://bucket/prefix"
