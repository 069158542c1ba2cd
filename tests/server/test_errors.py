"""Every error answer has one shape, ``{"error_code", "message"}``, with no traceback or server
path in it: body validation, body-parse errors, unknown routes and methods, unexpected errors."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ember.server.serve import bind_socket
from tests.conftest import ServerProc
from tests.server.conftest import WS


def assert_error(r: httpx.Response, status: int, code: str, *fragments: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    for fragment in fragments:
        assert fragment in body["message"], body
    assert "Traceback" not in body["message"] and 'File "' not in body["message"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", [
    f"{WS}/online-endpoints/e/deployments/blue",
    f"{WS}/batch-endpoints/e/deployments/blue",
])
def test_a_deployment_environment_with_an_unknown_key_is_a_400_naming_it(
        client: TestClient, path: str) -> None:
    r = client.put(path, json={"environment": {"name": "env", "imagee": "python:3.11"}})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "environment", "imagee")


@pytest.mark.parametrize("path,body", [
    (f"{WS}/datastores/d", {"name": "d", "root": "/tmp", "rooot": 1}),
    (f"{WS}/environments", {"name": "env", "imag": "x"}),
    (f"{WS}/jobs", {"command": "echo", "comand": "echo"}),
    (f"{WS}/jobs", {"command": "echo", "inputs": {"x": {"type": "string", "valeu": 1}}}),
    (f"{WS}/online-endpoints", {"name": "e", "trafic": {}}),
    (f"{WS}/models", {"name": "m", "path": "p", "flavours": {}}),
])
def test_unknown_keys_are_refused_by_name_in_every_body(client: TestClient, path: str,
                                                        body: dict[str, Any]) -> None:
    method = "PUT" if "/datastores/" in path else "POST"
    r = client.request(method, path, json=body)
    unknown = next(k for k in ("rooot", "imag", "comand", "valeu", "trafic", "flavours")
                   if k in str(body))
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", unknown)


def test_a_missing_or_mistyped_field_is_named(client: TestClient) -> None:
    assert_error(client.post(f"{WS}/online-endpoints", json={}), 400,
                 "INVALID_PARAMETER_VALUE", "name")
    r = client.put(f"{WS}/online-endpoints/e/deployments/blue",
                   json={"environment": {"image": 3}})
    body = assert_error(r, 400, "INVALID_PARAMETER_VALUE", "environment.image")
    assert "EnvironmentIn" not in body["message"]


@pytest.mark.parametrize("path", [f"{WS}/online-endpoints",
                                  "/api/2.0/mlflow/experiments/create",
                                  "/workspaces/default/api/2.0/mlflow/runs/log-batch"])
@pytest.mark.parametrize("content", [b'{"name": ', b'{"name": "\xff\xfe"}', b"\xff\xfe\x00"])
def test_malformed_and_non_utf8_bodies_are_400s(client: TestClient, path: str,
                                                 content: bytes) -> None:
    r = client.post(path, content=content, headers={"content-type": "application/json"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", f"{WS}/nope",
                                  "/api/2.0/mlflow/nope", "/workspaces/default/api/2.0/nope"])
def test_an_unknown_route_is_a_404_in_the_shape(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "ENDPOINT_NOT_FOUND")


@pytest.mark.parametrize("method,path", [("DELETE", "/api/v1/workspaces"),
                                         ("PATCH", f"{WS}/jobs"),
                                         ("GET", "/api/2.0/mlflow/runs/log-batch")])
def test_a_wrong_method_is_a_405_in_the_shape(client: TestClient, method: str,
                                               path: str) -> None:
    r = client.request(method, path)
    assert_error(r, 405, "METHOD_NOT_ALLOWED", method)
    assert r.headers["allow"]


def add_failing_route(app: FastAPI) -> None:
    """A route that fails the way a bug would: an exception no code path expects."""
    secret = "/srv/ember-home/secret/place.py"

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError(f"bug at {secret}")


def test_an_unexpected_error_is_a_500_in_the_shape_and_logged(
        app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    add_failing_route(app)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="ember.server"):
        body = assert_error(client.get("/test-only/boom"), 500, "INTERNAL_ERROR")
    assert "/srv/" not in body["message"] and "bug at" not in body["message"]
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "bug at /srv/ember-home" in str(logged[0].exc_info[1])


@pytest.fixture
def loopback_server(app: FastAPI) -> Iterator[tuple[str, int]]:
    """The app on a real uvicorn, on loopback, in a thread."""
    add_failing_route(app)
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    yield sock.getsockname()
    server.should_exit = True
    thread.join(30)
    sock.close()


def read_response(conn: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length (b"" when the server closed instead)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return head


def test_a_500_leaves_the_keep_alive_connection_usable(
        loopback_server: tuple[str, int]) -> None:
    """Before: the 500 was sent with keep-alive, then the server reset the connection."""
    with socket.create_connection(loopback_server, timeout=10) as conn:
        for path in ("/test-only/boom", "/health", "/test-only/boom", "/health"):
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            head = read_response(conn)
            expected = b"500" if "boom" in path else b"200"
            assert head.split(b"\r\n")[0].split(b" ")[1] == expected, (path, head)


def test_public_text_drops_tracebacks_and_server_paths(tmp_path: Path) -> None:
    from ember.server.public import PublicText

    home = tmp_path / "home"
    text = (f"deployment worker exited with status 1 before it was ready:\n"
            f"starting\nTraceback (most recent call last):\n"
            f'  File "{home}/serving/default/e/blue/g1-0/src/crash.py", line 2, in init\n'
            f"    raise RuntimeError('no GPU here')\nRuntimeError: no GPU here\n"
            f"see {home}/serving/x/log.txt")
    public = PublicText([str(home)])(text)
    assert "Traceback" not in public and "File" not in public and str(home) not in public
    assert "RuntimeError: no GPU here" in public and "exited with status 1" in public
    assert "$EMBER_HOME/serving/x/log.txt" in public


def test_a_deployment_start_error_is_summarised_and_the_traceback_is_in_its_logs(
        server: ServerProc, tmp_path: Path) -> None:
    from ember.client.mlclient import MLClient
    from ember.entities.online_endpoints import CodeConfiguration, OnlineDeployment, OnlineEndpoint
    from ember.entities.models import Model
    from ember.errors import DeploymentFailedError

    (tmp_path / "model").mkdir()
    (tmp_path / "model/weights.txt").write_text("2")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/crash.py").write_text(
        "def init():\n    raise RuntimeError('no GPU here')\n\ndef run(raw):\n    return raw\n")
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="scaler", path=str(tmp_path / "model")))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="e"))
        crash = OnlineDeployment(name="crash", endpoint_name="e", model="azureml:scaler:1",
                                 code_configuration=CodeConfiguration(str(tmp_path / "src"),
                                                                      "crash.py"))
        with pytest.raises(DeploymentFailedError, match="RuntimeError: no GPU here") as err:
            c.online_deployments.begin_create_or_update(crash).result(timeout=120)
        logs = c.online_deployments.get_logs("crash", "e")
    error = httpx.get(f"{server.api()}/online-endpoints/e/deployments/crash",
                      headers=server.headers).json()["error"]
    for text in (error, err.value.message):
        assert "RuntimeError: no GPU here" in text and "exited" in text
        assert "Traceback" not in text and 'File "' not in text
        assert str(server.home) not in text and str(server.home.resolve()) not in text
    assert "Traceback (most recent call last)" in logs and "crash.py" in logs


@pytest.mark.parametrize("path", [
    f"{WS}/models/m/versions/\u00b3/files",                     # found by schemathesis: a 500
    "/api/2.0/mlflow/model-versions/get?name=m&version=\u00b3",
    "/api/2.0/mlflow/experiments/get?experiment_id=\u00b3",
    "/api/2.0/mlflow/experiments/search?view_type=\u00b3",
])
def test_a_unicode_digit_is_not_a_number(client: TestClient, path: str) -> None:
    """``"³".isdigit()`` is true and ``int("³")`` fails: such a version or id was a 500."""
    r = client.get(path)
    assert r.status_code < 500, r.text
    assert set(r.json()) <= {"error_code", "message", "experiments", "next_page_token"}
