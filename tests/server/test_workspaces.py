from __future__ import annotations

import httpx

from tests.conftest import ServerProc


def test_default_workspace_exists_with_tracking_uri(server: ServerProc) -> None:
    r = httpx.get(f"{server.url}/api/v1/workspaces/default")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "default"
    assert body["mlflow_tracking_uri"] == f"{server.url}/workspaces/default"


def test_unknown_workspace_is_404_with_code(server: ServerProc) -> None:
    r = httpx.get(f"{server.url}/api/v1/workspaces/nope/datastores")
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "nope" in r.json()["message"]


def test_create_workspace_and_reject_duplicates_and_bad_names(server: ServerProc) -> None:
    r = httpx.post(f"{server.url}/api/v1/workspaces", json={"name": "team-a"})
    assert r.status_code == 201
    again = httpx.post(f"{server.url}/api/v1/workspaces", json={"name": "team-a"})
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    bad = httpx.post(f"{server.url}/api/v1/workspaces", json={"name": "../x"})
    assert bad.status_code == 400
    ds = httpx.get(f"{server.url}/api/v1/workspaces/team-a/datastores").json()
    assert [d["name"] for d in ds] == ["workspaceblobstore"]


def test_openapi_is_published(server: ServerProc) -> None:
    spec = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    assert "/api/v1/workspaces/{workspace}/data" in spec["paths"]
