"""Every size limit of the control API (ember/entities/limits.py, README "Limits"): refused with
a 413 for a whole body, a 400 naming the field for a part of one; never stored or cut short
(MLflow's param/tag values aside, which MLflow itself truncates)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ember.entities import limits
from ember.entities.jobs import Job
from ember.entities.sweeps import (
    Objective,
    SearchDistribution,
    SweepJob,
    SweepLimits,
    sweep_to_dict,
)
from ember.server.body_limit import body_limit
from tests.server.conftest import WS

MLFLOW = "/api/2.0/mlflow"


def refused(r: httpx.Response, status: int, *fragments: str) -> None:
    assert r.status_code == status, r.text[:500]
    body = r.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == ("PAYLOAD_TOO_LARGE" if status == 413
                                  else "INVALID_PARAMETER_VALUE")
    for fragment in fragments:
        assert fragment in body["message"], body


def job(**fields: Any) -> dict[str, Any]:
    return {"command": "echo hi", **fields}


def test_a_json_body_past_its_limit_is_a_413(client: TestClient) -> None:
    big = "x" * (limits.MAX_JSON_BODY_BYTES + 1)
    refused(client.post(f"{WS}/jobs", json=job(command=big)), 413,
            str(limits.MAX_JSON_BODY_BYTES))
    # the MLflow protocol too: a huge param is refused, not truncated
    refused(client.post(f"{MLFLOW}/runs/log-parameter",
                        json={"run_id": "r", "key": "p", "value": big}), 413)
    assert client.get(f"{WS}/jobs").json() == []


def test_a_chunked_body_is_counted_as_it_arrives(client: TestClient) -> None:
    chunk = b"x" * (1 << 20)

    def chunks() -> Iterator[bytes]:   # no Content-Length: sent chunked
        for _ in range(limits.MAX_JSON_BODY_BYTES // len(chunk) + 1):
            yield chunk

    r = client.post(f"{WS}/online-endpoints", content=chunks(),
                    headers={"content-type": "application/json"})
    refused(r, 413)
    r = client.post(f"{MLFLOW}/experiments/create", content=chunks())
    refused(r, 413)


def test_uploads_and_log_chunks_have_their_own_limits() -> None:
    assert body_limit("PUT", f"{WS}/uploads/code/abc") == limits.MAX_UPLOAD_BYTES
    assert body_limit("PUT", f"{WS}/jobs/j/artifacts/outputs/m.pkl") == limits.MAX_UPLOAD_BYTES
    for prefix in ("", "/workspaces/w"):
        assert body_limit("PUT", f"{prefix}/api/2.0/mlflow-artifacts/artifacts/1/r/a/f") == \
            limits.MAX_UPLOAD_BYTES
    assert body_limit("POST", f"{WS}/jobs/j/runner/logs") == limits.MAX_LOG_CHUNK_BYTES
    for method, path in (("POST", f"{WS}/jobs"), ("PUT", f"{WS}/environments/uploads"),
                         ("POST", f"{WS}/uploads/code/abc"), ("POST", f"{MLFLOW}/runs/log-batch")):
        assert body_limit(method, path) == limits.MAX_JSON_BODY_BYTES
    assert limits.MAX_UPLOAD_BYTES > limits.MAX_LOG_CHUNK_BYTES > limits.MAX_JSON_BODY_BYTES


def runner(client: TestClient, name: str) -> dict[str, str]:
    """The headers of job ``name``'s runner: only its own token may report for it."""
    token = client.app.state.platform.auth.create_workload_token(  # type: ignore[attr-defined]
        kind="job", user="owner", workspace="default", subject=name)
    return {"Authorization": f"Bearer {token}"}


def test_a_log_chunk_past_its_limit_is_a_413(client: TestClient) -> None:
    name = client.post(f"{WS}/jobs", json=job()).json()["name"]
    r = client.post(f"{WS}/jobs/{name}/runner/logs",
                    content=b"x" * (limits.MAX_LOG_CHUNK_BYTES + 1),
                    headers={"X-Ember-Offset": "0", **runner(client, name)})
    refused(r, 413)


@pytest.mark.parametrize("fields,named", [
    ({"command": "x" * (limits.MAX_COMMAND_LENGTH + 1)}, "command"),
    ({"tags": {f"t{i}": "" for i in range(limits.MAX_TAGS + 1)}}, "tags"),
    ({"tags": {"t": "v" * (limits.MAX_TAG_LENGTH + 1)}}, "tags.t"),
    ({"tags": {"k" * (limits.MAX_TAG_KEY_LENGTH + 1): "v"}}, "tags"),
    ({"properties": {f"p{i}": "" for i in range(limits.MAX_PROPERTIES + 1)}}, "properties"),
    ({"description": "d" * (limits.MAX_DESCRIPTION_LENGTH + 1)}, "description"),
    ({"display_name": "d" * (limits.MAX_DISPLAY_NAME_LENGTH + 1)}, "display_name"),
    ({"environment_variables": {f"E{i}": "" for i in
                                range(limits.MAX_ENVIRONMENT_VARIABLES + 1)}},
     "environment_variables"),
    ({"environment_variables": {"E": "v" * (limits.MAX_ENVIRONMENT_VARIABLE_LENGTH + 1)}},
     "environment_variables.E"),
    ({"inputs": {f"i{i}": {"type": "string", "value": "v"}
                 for i in range(limits.MAX_JOB_INPUTS + 1)}}, "inputs"),
    ({"outputs": {f"o{i}": {} for i in range(limits.MAX_JOB_OUTPUTS + 1)}}, "outputs"),
])
def test_a_job_past_a_field_limit_is_a_400_naming_it(client: TestClient,
                                                     fields: dict[str, Any], named: str) -> None:
    refused(client.post(f"{WS}/jobs", json=job(**fields)), 400, named)
    assert client.get(f"{WS}/jobs").json() == []


def test_a_job_at_the_limits_is_accepted(client: TestClient) -> None:
    r = client.post(f"{WS}/jobs", json=job(
        command="echo " + "x" * (limits.MAX_COMMAND_LENGTH - 5),
        tags={f"t{i}": "v" * limits.MAX_TAG_LENGTH for i in range(limits.MAX_TAGS)}))
    assert r.status_code == 201, r.text[:300]
    assert len(r.json()["tags"]) == limits.MAX_TAGS


def sweep_body(**fields: Any) -> dict[str, Any]:
    sweep = SweepJob(trial=Job(name="", command="python t.py --lr ${{search_space.lr}}"),
                     search_space={"lr": SearchDistribution("choice", values=[0.1, 0.2])},
                     objective=Objective("acc", "maximize"),
                     limits=SweepLimits(max_total_trials=2), **fields)
    return sweep_to_dict(sweep)


@pytest.mark.parametrize("fields,named", [
    ({"tags": {f"t{i}": "" for i in range(limits.MAX_TAGS + 1)}}, "tags"),
    ({"properties": {"p": "v" * (limits.MAX_TAG_LENGTH + 1)}}, "properties"),
    ({"description": "d" * (limits.MAX_DESCRIPTION_LENGTH + 1)}, "description"),
])
def test_sweep_and_pipeline_bodies_have_the_same_limits(client: TestClient,
                                                         fields: dict[str, Any],
                                                         named: str) -> None:
    refused(client.post(f"{WS}/jobs", json=sweep_body(**fields)), 400, named)
    pipeline = {"type": "pipeline", "jobs": {"a": {"type": "command", "command": "echo"}},
                **fields}
    refused(client.post(f"{WS}/jobs", json=pipeline), 400, named)


@pytest.mark.parametrize("path,body,named", [
    (f"{WS}/online-endpoints", {"name": "e", "tags": {f"t{i}": "" for i in range(101)}}, "tags"),
    (f"{WS}/batch-endpoints", {"name": "e", "description": "d" * 8001}, "description"),
    (f"{WS}/models", {"name": "m", "path": "p", "properties": {f"p{i}": "" for i in range(101)}},
     "properties"),
    (f"{WS}/data", {"name": "d", "path": "p", "tags": {"t": "v" * 8001}}, "tags.t"),
    (f"{WS}/environments", {"name": "e", "tags": {f"t{i}": "" for i in range(101)}}, "tags"),
    (f"{WS}/components", {"name": "c", "command": "x" * (limits.MAX_COMMAND_LENGTH + 1)},
     "command"),
    ("/api/v1/workspaces", {"name": "w", "description": "d" * 8001}, "description"),
])
def test_every_resource_body_has_the_limits(client: TestClient, path: str,
                                            body: dict[str, Any], named: str) -> None:
    refused(client.post(path, json=body), 400, named)


def test_runner_logs_of_an_ended_job_are_refused(client: TestClient) -> None:
    """Before: a log chunk was appended to a job that had already ended."""
    name = client.post(f"{WS}/jobs", json=job()).json()["name"]
    logs = f"{WS}/jobs/{name}/runner/logs"
    own = runner(client, name)
    assert client.post(logs, content=b"line 1\n",
                       headers={"X-Ember-Offset": "0", **own}).json() == {"size": 7}
    assert client.post(f"{WS}/jobs/{name}/cancel").status_code == 200
    assert client.get(f"{WS}/jobs/{name}").json()["status"] == "Canceled"
    # the job's token died with it ...
    r = client.post(logs, content=b"late\n", headers={"X-Ember-Offset": "7", **own})
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    # ... and a report that still gets through (a token another server process has cached
    # for a few seconds) is refused by the job's state
    r = client.post(logs, content=b"late\n",
                    headers={"X-Ember-Offset": "7", **runner(client, name)})
    assert r.status_code == 409 and r.json()["error_code"] == "CONFLICT", r.text
    assert client.get(f"{WS}/jobs/{name}/logs").content.endswith(b"line 1\n")


def test_mlflow_limits(client: TestClient) -> None:
    run_id = client.post(f"{MLFLOW}/runs/create", json={"experiment_id": "0"}
                         ).json()["run"]["info"]["run_id"]
    batch = f"{MLFLOW}/runs/log-batch"
    metrics = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    refused(client.post(batch, json={"run_id": run_id, "metrics": metrics}), 400,
            "at most 1000 metrics")
    params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    refused(client.post(batch, json={"run_id": run_id, "params": params}), 400,
            "at most 100 params")
    refused(client.post(batch, json={"run_id": run_id, "tags": params}), 400, "at most 100 tags")
    big = [{"key": f"t{i}", "value": "v" * 8000} for i in range(100)] * 2
    refused(client.post(batch, json={"run_id": run_id, "tags": big[:100],
                                      "params": [{"key": f"p{i}", "value": "v" * 6000}
                                                 for i in range(100)]}),
            400, "at most 1000000 bytes")
    refused(client.post(f"{MLFLOW}/runs/log-metric", json={
        "run_id": run_id, "key": "k" * 251, "value": 1.0, "timestamp": 1}), 400, "250")
    # MLflow truncates over-long param and tag values (the mlflow client relies on it)
    r = client.post(f"{MLFLOW}/runs/log-parameter",
                    json={"run_id": run_id, "key": "long", "value": "x" * 7000})
    assert r.status_code == 200, r.text
    got = client.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()
    params_out = {p["key"]: p["value"] for p in got["run"]["data"]["params"]}
    assert len(params_out["long"]) == limits.MAX_PARAM_VALUE_LENGTH
    refused(client.post(f"{MLFLOW}/experiments/create", json={"name": "e" * 501}), 400, "500")
