"""Every route in the OpenAPI document, tried by callers who may not use it — generated from
the route table, so a new route cannot be forgotten: no token (401), a Reader on a mutating
route (403), a Contributor of another workspace (403 or 404, never the data), a job's token on
another job and on what only people may do (403); and the ones who may, let through."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ember.entities.auth import READ, SELF
from ember.server.app import create_app
from ember.settings import Settings

WS = "default"
OTHER = "other-team"
PUBLIC = {"/health", "/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    home = tmp_path_factory.mktemp("access")
    app = create_app(Settings(home=home, port=0), start_scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.client = client
        auth = app.state.platform.auth
        owner = {"Authorization": f"Bearer {app.state.platform.owner_token}"}
        assert client.post("/api/v1/workspaces", json={"name": OTHER},
                           headers=owner).status_code == 201
        for user, ws, role in (("rita", WS, "Reader"), ("carl", OTHER, "Contributor"),
                               ("dana", WS, "AzureML Data Scientist"),
                               ("otto", WS, "Owner")):
            auth.create_user(user)
            auth.assign_role(user, ws, role)
        app.state.tokens = {u: auth.create_token(u)[1] for u in ("rita", "carl", "dana", "otto")}
        app.state.tokens["job"] = auth.create_workload_token(
            kind="job", user="owner", workspace=WS, subject="job-a")
        yield app


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    doc = app.openapi()
    ops = [(method.upper(), path, op) for path, item in doc["paths"].items()
           for method, op in item.items() if path not in PUBLIC]
    assert len(ops) > 100   # the whole route table, not a part of it
    return ops


def concrete(path: str, workspace: str = WS) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: workspace if m.group(0) == "{workspace}" else "x",
                  path)


def call(app: FastAPI, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return app.state.client.request(method, path, headers=headers, json=body)


def test_every_route_declares_an_action_and_refuses_a_caller_without_a_token(
        app: FastAPI) -> None:
    for method, path, op in operations(app):
        assert op.get("x-ember-action"), f"{method} {path} declares no action"
        r = call(app, method, concrete(path), None)
        assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text[:200]}"
        assert r.json()["error_code"] == "UNAUTHENTICATED"
        assert "Bearer" in r.headers["www-authenticate"]
        r = call(app, method, concrete(path), "ember_not-a-token")
        assert r.status_code == 401, f"{method} {path}: {r.status_code}"


def test_a_reader_may_read_but_not_change_anything(app: FastAPI) -> None:
    token = app.state.tokens["rita"]
    for method, path, op in operations(app):
        r = call(app, method, concrete(path), token)
        if op["x-ember-action"] == READ:
            assert r.status_code not in (401, 403), f"{method} {path}: {r.text[:200]}"
        elif op["x-ember-action"] == SELF:   # their own account and tokens
            assert r.status_code != 401, f"{method} {path}: {r.text[:200]}"
        else:
            assert r.status_code == 403, f"{method} {path}: {r.status_code} {r.text[:200]}"
            assert r.json()["error_code"] == "PERMISSION_DENIED"


def test_another_workspaces_contributor_gets_nothing_of_this_one(app: FastAPI) -> None:
    token = app.state.tokens["carl"]
    for method, path, op in operations(app):
        if "{workspace}" not in path:
            continue
        r = call(app, method, concrete(path), token)
        assert r.status_code in (403, 404), f"{method} {path}: {r.status_code} {r.text[:200]}"


def test_a_jobs_token_reaches_only_its_own_job_and_never_a_secret(app: FastAPI) -> None:
    token = app.state.tokens["job"]
    for method, path, op in operations(app):
        r = call(app, method, concrete(path), token)
        workload = op.get("x-ember-workload")
        if "{workspace}" not in path and op["x-ember-action"] != READ:
            assert r.status_code == 403, f"{method} {path}: {r.status_code}"
        elif op["x-ember-action"] == READ:
            assert r.status_code not in (401, 403), f"{method} {path}: {r.text[:200]}"
        elif workload == "tracking":   # past the route's check; then only its own run
            assert r.status_code != 403 or "own run" in r.json()["message"], \
                f"{method} {path}: {r.text[:200]}"
        else:   # another job ("x"), another resource, a secret
            assert r.status_code == 403, f"{method} {path}: {r.status_code} {r.text[:200]}"
    # its own job's reports pass the check (and then fail on the empty body)
    r = call(app, "POST", f"/api/v1/workspaces/{WS}/jobs/job-a/runner/status", token)
    assert r.status_code == 400, r.text
    r = call(app, "POST", f"/api/v1/workspaces/{OTHER}/jobs/job-a/runner/status", token)
    assert r.status_code == 403


def test_roles_draw_their_lines(app: FastAPI) -> None:
    dana, otto = app.state.tokens["dana"], app.state.tokens["otto"]
    roles = f"/api/v1/workspaces/{WS}/roles"
    # a Data Scientist changes assets and reads secrets, but assigns no role and reads no audit
    assert call(app, "POST", f"/api/v1/workspaces/{WS}/connections/x/listsecrets",
                dana).status_code == 404
    assert call(app, "POST", roles, dana).status_code == 403
    assert call(app, "GET", f"/api/v1/workspaces/{WS}/audit", dana).status_code == 403
    # an Owner of the workspace does both, and is no server admin
    c = app.state.client
    h = {"Authorization": f"Bearer {otto}"}
    r = c.post(roles, json={"user": "rita", "role": "AzureML Data Scientist"}, headers=h)
    assert r.status_code == 201, r.text
    assert c.get(f"/api/v1/workspaces/{WS}/audit", headers=h).status_code == 200
    assert c.post("/api/v1/users", json={"name": "eve"}, headers=h).status_code == 403
    assert c.post("/api/v1/workspaces", json={"name": "mine"}, headers=h).status_code == 403
    assert [w["name"] for w in c.get("/api/v1/workspaces", headers=h).json()] == [WS]
    r = c.delete(roles, params={"user": "rita", "role": "AzureML Data Scientist"}, headers=h)
    assert r.status_code == 200
