"""Fixtures of the tracking tests: one real server per module, MLflow client settings."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProc


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """A real ``ember server`` shared by a module's tests (each test uses its own names)."""
    srv = ServerProc(tmp_path_factory.mktemp("tracking-home")).start()
    yield srv
    srv.stop()


@pytest.fixture
def tracking_uri(tracking_server: ServerProc, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The default workspace's tracking URI, with the client set to fail fast."""
    import mlflow

    # Error tests would otherwise retry 4xx/5xx with backoff for minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tracking_server.token)
    uri = f"{tracking_server.url}/workspaces/default"
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def create_workspace(server: ServerProc, name: str) -> str:
    """Create a workspace (once) and return its tracking URI."""
    r = httpx.post(f"{server.url}/api/v1/workspaces", json={"name": name},
                   headers=server.headers)
    assert r.status_code in (201, 400), r.text
    return f"{server.url}/workspaces/{name}"
