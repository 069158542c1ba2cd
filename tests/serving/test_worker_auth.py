"""Deployment workers answer only the router (issue 14, item 7): a request straight to a
worker's loopback port without the router's secret is refused, and the API publishes no
worker address."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.serving._service_handler import ServiceHandler, _Plain
from ember.serving.protocol import WORKER_KEY_ENV, WORKER_KEY_HEADER
from ember.serving.worker import WorkerHTTPServer
from tests.conftest import WorkspaceServer
from tests.serving.conftest import scoring_project
from tests.serving.test_online_endpoints import score, serve_script


def test_a_worker_refuses_a_request_without_the_routers_secret(server: WorkspaceServer,
                                                                tmp_path: Path) -> None:
    root = scoring_project(tmp_path / "proj", scale=3.0)
    with MLClient(endpoint=server.url) as c:
        ep, key = serve_script(c, root, "guarded")
        # through the router, with the endpoint's key: scored
        r = score(ep.scoring_uri, key, {"data": [1, 2]})
        assert r.status_code == 200 and r.json()["result"] == [3.0, 6.0]
        # the deployment GET says which workers run, not where they listen
        got = httpx.get(f"{server.api()}/online-endpoints/guarded/deployments/blue",
                        headers=server.headers).json()
        assert got["instances"] and all("address" not in i and "port" not in i
                                        for i in got["instances"])
        assert all(isinstance(i["pid"], int) for i in got["instances"])
    folder = server.home / "serving" / server.workspace / "guarded" / "blue"
    ports = list(folder.glob("g*-*/port"))
    assert ports
    for port_file in ports:
        worker = f"http://127.0.0.1:{port_file.read_text().strip()}"
        for headers in ({}, {"Authorization": f"Bearer {key}"}, {WORKER_KEY_HEADER: "guess"}):
            r = httpx.post(f"{worker}/score", json={"data": [1]}, headers=headers, timeout=10)
            assert r.status_code == 401, (headers, r.text)
            assert "result" not in r.text
        # liveness and readiness stay open: the supervisor's probes, nothing of the model
        assert httpx.get(f"{worker}/", timeout=10).status_code == 200
        assert httpx.get(f"{worker}/ready", timeout=10).status_code == 200


class _Echo:
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return _Plain(200, json.dumps({"path": path, "body": body.decode()}).encode())


class _EchoHandler(ServiceHandler):
    """The flow and language-model workers' handler, over a service that echoes."""

    def service(self) -> _Echo:
        return _Echo()

    def error(self, status: int, message: str, code: str) -> Any:
        return _Plain(status, json.dumps({"error": {"code": code, "message": message}}).encode())


@pytest.fixture
def echo_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(WORKER_KEY_ENV, "the-routers-secret")
    srv = WorkerHTTPServer(("127.0.0.1", 0), _EchoHandler)
    srv.take_worker_key()
    assert WORKER_KEY_ENV not in os.environ   # the service's code does not find it
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_the_service_workers_need_the_secret_too(echo_worker: str) -> None:
    for path in ("/score", "/v1/chat/completions"):
        r = httpx.post(f"{echo_worker}{path}", content=b"{}", timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = httpx.post(f"{echo_worker}{path}", content=b"{}", timeout=10,
                       headers={WORKER_KEY_HEADER: "the-routers-secret"})
        assert r.status_code == 200 and r.json()["path"] == path
    assert httpx.get(f"{echo_worker}/v1/models", timeout=10).status_code == 401
    assert httpx.get(f"{echo_worker}/", timeout=10).status_code == 200
