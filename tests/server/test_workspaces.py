"""Workspaces through the SDK, against the app in process."""

from __future__ import annotations

import pytest

from ember.client.mlclient import MLClient
from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from tests.conftest import APP_URL, AppTransport


def test_default_workspace_exists_with_tracking_uri(app_client: MLClient) -> None:
    body = app_client.workspaces.get("default")
    assert body["name"] == "default"
    assert body["mlflow_tracking_uri"].endswith("/workspaces/default")


def test_unknown_workspace_is_404_with_code(app_client: MLClient) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        app_client._http.request("GET", "/api/v1/workspaces/nope/datastores")


def test_create_workspace_and_reject_duplicates_and_bad_names(
        app_client: MLClient, app_transport: AppTransport) -> None:
    assert app_client.workspaces.create("team-a")["name"] == "team-a"
    with pytest.raises(AlreadyExistsError):
        app_client.workspaces.create("team-a")
    with pytest.raises(InvalidInputError):
        app_client.workspaces.create("../x")
    team = MLClient(endpoint=APP_URL, workspace="team-a", transport=app_transport)
    assert [d["name"] for d in team.datastores.list()] == ["workspaceblobstore"]
    assert [w["name"] for w in app_client.workspaces.list()] == ["default", "team-a"]


def test_openapi_is_published(app_client: MLClient) -> None:
    spec = app_client._http.json("GET", "/api/v1/openapi.json")
    assert "/api/v1/workspaces/{workspace}/data" in spec["paths"]
