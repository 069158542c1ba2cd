"""Fixtures of the server tests: the real app in process over a fresh SQLite EMBER_HOME.

``start_scheduler=False``: the job scheduler, orchestrator and serving supervisor threads are
not started, so a submitted job stays Queued and no runner process is started.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ember.server.app import create_app
from ember.settings import Settings

WS = "/api/v1/workspaces/default"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(home=tmp_path / "home", port=0), start_scheduler=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        # the owner token, as the local CLI and SDK send it (tests of refusals make their own)
        c.headers["Authorization"] = f"Bearer {app.state.platform.owner_token}"
        yield c
