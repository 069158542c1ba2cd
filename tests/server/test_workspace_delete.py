"""``ember workspace delete``: server admins only, refused while the workspace is in use, then
hidden and unreachable with its name kept."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_delete_hides_the_workspace_and_keeps_its_name(client: TestClient) -> None:
    assert client.post("/api/v1/workspaces", json={"name": "old"}).status_code == 201
    r = client.post("/api/v1/workspaces/old/jobs", json={"command": "echo", "name": "j1"})
    assert r.status_code == 201, r.text   # stays Queued: this app runs no scheduler
    r = client.delete("/api/v1/workspaces/old")
    assert r.status_code == 409 and "job 'j1'" in r.json()["message"], r.text
    assert client.post("/api/v1/workspaces/old/jobs/j1/cancel").status_code == 200
    r = client.delete("/api/v1/workspaces/old")
    assert r.status_code == 200 and r.json()["name"] == "old", r.text
    assert "old" not in [w["name"] for w in client.get("/api/v1/workspaces").json()]
    for path in ("/api/v1/workspaces/old", "/api/v1/workspaces/old/jobs",
                 "/workspaces/old/api/2.0/mlflow/experiments/search"):
        r = client.get(path)
        assert r.status_code == 404 and "was deleted" in r.json()["message"], (path, r.text)
    r = client.post("/api/v1/workspaces", json={"name": "old"})
    assert r.status_code == 400 and "name stays taken" in r.json()["message"]
    assert client.delete("/api/v1/workspaces/old").status_code == 404


def test_the_default_workspace_stays_and_only_admins_delete(client: TestClient) -> None:
    r = client.delete("/api/v1/workspaces/default")
    assert r.status_code == 400 and "cannot be deleted" in r.json()["message"]
    platform = client.app.state.platform  # type: ignore[attr-defined]
    assert client.post("/api/v1/workspaces", json={"name": "team"}).status_code == 201
    platform.auth.create_user("olga")
    platform.auth.assign_role("olga", "team", "Owner")
    token = platform.auth.create_token("olga")[1]
    r = client.delete("/api/v1/workspaces/team", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403      # an Owner of the workspace is no server admin
