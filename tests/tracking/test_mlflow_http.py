"""The MLflow protocol at the HTTP level: paths, error bodies, confinement, server facts."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ServerProc

API = "api/2.0/mlflow"
ART = "api/2.0/mlflow-artifacts/artifacts"


def raw(server: ServerProc, method: str, path: str, body: bytes | None = None
        ) -> tuple[int, dict]:  # type: ignore[type-arg]
    """One request with the path sent byte for byte (httpx would normalise ``..``)."""
    host = urlsplit(server.url)
    conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port,
                                      timeout=30)
    try:
        conn.request(method, path, body=body, headers=server.headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, (json.loads(data) if data.startswith(b"{") else {})


def new_run(server: ServerProc, ws: str = "default") -> tuple[str, str]:
    base = f"{server.url}/workspaces/{ws}/{API}"
    exp = httpx.post(f"{base}/experiments/create", headers=server.headers,
                     json={"name": f"http-{time.monotonic_ns()}"}).json()["experiment_id"]
    run = httpx.post(f"{base}/runs/create", headers=server.headers,
                     json={"experiment_id": exp}).json()["run"]
    return exp, run["info"]["run_id"]


@pytest.fixture
def authed(tracking_server: ServerProc) -> Iterator[httpx.Client]:
    """A client that sends the server's owner token."""
    with httpx.Client(headers=tracking_server.headers) as client:
        yield client


@pytest.mark.parametrize("path", [
    "/workspaces/default/{art}/{exp}/../../../../escape.txt",
    "/workspaces/default/{art}/{exp}/%2e%2e/%2e%2e/%2e%2e/escape.txt",
    "/{art}/..%2F..%2Fescape.txt",
])
def test_artifact_paths_cannot_leave_the_workspace(tracking_server: ServerProc,
                                                   path: str) -> None:
    exp, _ = new_run(tracking_server)
    target = path.format(art=ART, exp=exp)
    status, body = raw(tracking_server, "PUT", target, b"evil")
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert ".." in body["message"]
    status, body = raw(tracking_server, "GET", target)
    assert status == 400 and ".." in body["message"]
    status, body = raw(tracking_server, "DELETE", target)
    assert status == 400
    status, body = raw(tracking_server, "GET", f"/workspaces/default/{ART}?path=../..")
    assert status == 400
    assert not list(tracking_server.home.rglob("escape.txt"))


def test_invalid_percent_encoded_bytes_do_not_collide(tracking_server: ServerProc) -> None:
    """%ff and %fe both decode to U+FFFD: accepting them wrote two names to one file."""
    exp, _ = new_run(tracking_server)
    for name in ("a%ff.txt", "a%fe.txt"):
        status, body = raw(tracking_server, "PUT", f"/{ART}/{exp}/{name}", b"x")
        assert status == 400 and "not valid UTF-8" in body["message"]
    status, _ = raw(tracking_server, "PUT", f"/{ART}/{exp}/caf%C3%A9.txt", b"ok")
    assert status == 200


def test_artifact_upload_download_list_delete(
        tracking_server: ServerProc, authed: httpx.Client) -> None:
    exp, rid = new_run(tracking_server)
    base = f"{tracking_server.url}/workspaces/default/{ART}"
    payload = bytes(range(256)) * 20000  # 5 MB, written in several chunks
    assert authed.put(f"{base}/{exp}/{rid}/artifacts/big.bin", content=payload).status_code == 200
    got = authed.get(f"{base}/{exp}/{rid}/artifacts/big.bin")
    assert got.status_code == 200 and got.content == payload
    listing = authed.get(base, params={"path": f"{exp}/{rid}/artifacts"}).json()
    assert listing == {"files": [{"path": "big.bin", "is_dir": False, "file_size": len(payload)}]}
    stored = tracking_server.home / "artifacts" / "workspaces" / "default" / "mlartifacts"
    assert (stored / exp / rid / "artifacts" / "big.bin").stat().st_size == len(payload)
    missing = authed.get(f"{base}/{exp}/{rid}/artifacts/nope.txt")
    assert missing.status_code == 404 and missing.json()["error_code"] == \
        "RESOURCE_DOES_NOT_EXIST"
    assert authed.delete(f"{base}/").status_code == 400
    assert authed.delete(f"{base}/{exp}/{rid}/artifacts/big.bin").status_code == 200
    assert authed.get(base, params={"path": f"{exp}/{rid}/artifacts"}).json() == {"files": []}


def test_error_bodies_and_status_codes(
        tracking_server: ServerProc, authed: httpx.Client) -> None:
    base = f"{tracking_server.url}/workspaces/default/{API}"
    r = authed.get(f"{base}/runs/get", params={"run_id": "f" * 32})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = authed.get(f"{base}/experiments/get-by-name", params={"experiment_name": "nope"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = authed.post(f"{base}/runs/log-batch", content=b"{not json")
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    _, rid = new_run(tracking_server)
    too_many = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    r = authed.post(f"{base}/runs/log-batch", json={"run_id": rid, "metrics": too_many})
    assert r.status_code == 400 and "1000" in r.json()["message"]
    r = authed.post(f"{base}/runs/log-metric", json={"run_id": rid, "key": "m", "value": 1.0})
    assert r.status_code == 400 and "timestamp" in r.json()["message"]
    r = authed.get(f"{tracking_server.url}/workspaces/nope/{API}/experiments/get",
                   params={"experiment_id": "1"})
    assert r.status_code == 404 and "nope" in r.json()["message"]


def test_nan_and_history_paging_on_the_wire(
        tracking_server: ServerProc, authed: httpx.Client) -> None:
    base = f"{tracking_server.url}/{API}"  # the root mount: workspace "default"
    _, rid = new_run(tracking_server)
    metrics = [{"key": "m", "value": "NaN" if i == 0 else i * 1.5, "timestamp": 10, "step": i}
               for i in range(5)]
    assert authed.post(f"{base}/runs/log-batch", json={"run_id": rid, "metrics": metrics}
                       ).status_code == 200
    first = authed.get(f"{base}/metrics/get-history",
                       params={"run_id": rid, "metric_key": "m", "max_results": 3}).json()
    assert [m["value"] for m in first["metrics"]] == ["NaN", 1.5, 3.0]
    rest = authed.get(f"{base}/metrics/get-history",
                      params={"run_id": rid, "metric_key": "m", "max_results": 3,
                              "page_token": first["next_page_token"]}).json()
    assert [m["step"] for m in rest["metrics"]] == [3, 4] and "next_page_token" not in rest
    bulk = authed.get(f"{base}/metrics/get-history-bulk-interval",
                      params={"run_ids": [rid], "metric_key": "m", "max_results": 2}).json()
    assert [(m["step"], m["run_id"]) for m in bulk["metrics"]] == [(0, rid), (4, rid)]


def test_server_facts_at_root_and_workspace(
        tracking_server: ServerProc, authed: httpx.Client) -> None:
    for prefix in ("", "/workspaces/default"):
        version = authed.get(f"{tracking_server.url}{prefix}/version").text
        assert tuple(int(p) for p in version.split(".")[:2]) >= (3, 4)
        info = authed.get(f"{tracking_server.url}{prefix}/api/3.0/mlflow/server-info").json()
        assert info["multipart_uploads_enabled"] is False
        assert info["multipart_downloads_enabled"] is False
