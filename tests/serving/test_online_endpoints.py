"""Online endpoints end to end: real server, real router and worker processes, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.online_endpoints import (
    CodeConfiguration,
    OnlineDeployment,
    OnlineEndpoint,
    ProbeSettings,
    RequestSettings,
)
from ember.entities.models import Model
from ember.errors import (
    ConflictError,
    DeploymentFailedError,
    EndpointRequestError,
    InvalidInputError,
    NotFoundError,
    SpecError,
    UnsupportedError,
)
from tests.conftest import ServerProc, WorkspaceServer, wait_for
from tests.serving.conftest import scoring_project, sklearn_mlflow_model
from tests.test_cli import ember

ROWS = {"input_data": {"columns": ["x1", "x2"], "index": [0, 1],
                       "data": [[0.95, 0.05], [0.05, 0.95]]}}


def script_deployment(root: Path, name: str, endpoint: str, **kw: object) -> OnlineDeployment:
    return OnlineDeployment(name=name, endpoint_name=endpoint, model="azureml:scaler:1",
                            code_configuration=CodeConfiguration(str(root / "src"), "score.py"),
                            **kw)  # type: ignore[arg-type]


def serve_script(c: MLClient, root: Path, endpoint: str,
                 **kw: object) -> tuple[OnlineEndpoint, str]:
    """Register the scaler model, create ``endpoint`` and roll the scoring script out on it as
    deployment ``blue`` with all the traffic; returns the endpoint and its primary key."""
    c.models.create_or_update(Model(name="scaler", path=str(root / "model")))
    c.online_endpoints.create_or_update(OnlineEndpoint(name=endpoint))
    d = c.online_deployments.begin_create_or_update(
        script_deployment(root, "blue", endpoint, **kw), all_traffic=True).result(timeout=120)
    assert d.provisioning_state == "Succeeded"
    ep = c.online_endpoints.get(endpoint)
    assert ep.traffic == {"blue": 100}   # --all-traffic is in place once the rollout succeeded
    return ep, c.online_endpoints.get_keys(endpoint).primary_key


def score(url: str, key: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}", **headers},
                      timeout=30)


def test_mlflow_model_through_cli_sdk_and_raw_http(server: ServerProc, tmp_path: Path) -> None:
    sklearn_mlflow_model(tmp_path / "sk")
    (tmp_path / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: clf\nauth_mode: key\n")
    (tmp_path / "blue.yml").write_text(
        "name: blue\nendpoint_name: clf\nmodel:\n  path: ./sk\n  type: mlflow_model\n"
        "instance_type: Standard_DS3_v2\ninstance_count: 1\n")
    (tmp_path / "request.json").write_text(json.dumps(ROWS))
    r = ember(server, "online-endpoint", "create", "-f", str(tmp_path / "endpoint.yml"))
    assert r.returncode == 0, r.stderr
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "blue.yml"),
              "--all-traffic", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provisioning_state"] == "Succeeded"
    r = ember(server, "online-endpoint", "invoke", "-n", "clf", "--request-file",
              str(tmp_path / "request.json"), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [1, 0]
    with MLClient(endpoint=server.url) as c:
        assert c.online_endpoints.get("clf").traffic == {"blue": 100}   # set by --all-traffic
        assert json.loads(c.online_endpoints.invoke("clf", tmp_path / "request.json")) == [1, 0]
        ep = c.online_endpoints.get("clf")
        keys = c.online_endpoints.get_keys("clf")
        assert ep.scoring_uri.startswith("http://127.0.0.1:") and ep.scoring_uri.endswith(
            f"/endpoints/{c.workspace_name}/clf/score")
        ok = score(ep.scoring_uri, keys.secondary_key, {"input_data": [[0.9, 0.1]]})
        assert ok.status_code == 200 and ok.json() == [1]
        assert ok.headers["azureml-model-deployment"] == "blue"
        assert score(ep.scoring_uri, "wrong", ROWS).status_code == 401
        assert httpx.post(ep.scoring_uri, json=ROWS).status_code == 401
        broken = score(ep.scoring_uri, keys.primary_key,
                       {"input_data": {"columns": ["x1", "nope"], "data": [[1.0, 2.0]]}})
        assert broken.status_code == 400 and "x2" in broken.json()["message"]
        with pytest.raises(EndpointRequestError, match="input_data") as err:
            c.online_endpoints.invoke("clf", body='{"rows": []}')
        assert err.value.status == 400
        c.online_endpoints.regenerate_keys("clf", "primary")
        assert score(ep.scoring_uri, keys.primary_key, ROWS).status_code == 401
        assert score(ep.scoring_uri, keys.secondary_key, ROWS).status_code == 200
        new = c.online_endpoints.get_keys("clf").primary_key
        assert new != keys.primary_key and score(ep.scoring_uri, new, ROWS).status_code == 200
        metrics = c.online_endpoints.get_metrics("clf")["blue"]
        assert metrics["request_count"] >= 6 and metrics["error_count"] >= 2
        assert metrics["latency_ms_p50"] is not None
    text = httpx.get(f"{server.api()}/online-endpoints-metrics", headers=server.headers).text
    assert "ember_endpoint_requests_total" in text and 'deployment="blue"' in text


def test_scoring_script_errors_logs_and_a_killed_worker(server: ServerProc,
                                                        tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        serve_script(c, root, "sc", environment_variables={"TAG": "t1"})
        out = json.loads(c.online_endpoints.invoke("sc", body='{"data": [1, 2]}'))
        assert out["result"] == [2.0, 4.0] and out["tag"] == "t1"
        (tmp_path / "req.json").write_text('{"data": [5]}')
        r = ember(server, "online-endpoint", "invoke", "-n", "sc", "-r", str(tmp_path / "req.json"),
                  "-o", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["result"] == [10.0]
        r = ember(server, "online-endpoint", "invoke", "-n", "sc", "-r", str(tmp_path / "nope"))
        assert r.returncode != 0 and "does not exist" in r.stderr
        with pytest.raises(EndpointRequestError, match="bad input: fail requested") as err:
            c.online_endpoints.invoke("sc", body='{"fail": true}')
        assert err.value.status == 500 and err.value.endpoint_code == "USER_ERROR"
        logs = c.online_deployments.get_logs("blue", "sc")
        assert "ValueError: bad input: fail requested" in logs and "init done" in logs
        r = ember(server, "online-deployment", "get-logs", "-n", "blue", "-e", "sc",
                  "--lines", "50")
        assert r.returncode == 0 and "Traceback" in r.stdout

        pid = out["pid"]
        os.kill(pid, signal.SIGKILL)

        def answered_by_new_worker() -> bool:
            try:
                again = json.loads(c.online_endpoints.invoke("sc", body='{"data": [1]}'))
            except EndpointRequestError:
                return False
            return bool(again["pid"] != pid)
        wait_for(answered_by_new_worker, timeout=60, interval=0.2)
        assert c.online_deployments.instances("blue", "sc")[0]["restarts"] >= 1


def test_a_hung_worker_fails_its_liveness_probe_and_is_replaced(server: ServerProc,
                                                                 tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        serve_script(c, root, "hang", liveness_probe=ProbeSettings(
            initial_delay=0, period=1, timeout=1, failure_threshold=2))
        pid = json.loads(c.online_endpoints.invoke("hang", body='{"data": [1]}'))["pid"]
        os.kill(pid, signal.SIGSTOP)   # alive but answering nothing
        try:
            def replaced() -> bool:
                inst = c.online_deployments.instances("blue", "hang")
                return bool(inst) and inst[0]["pid"] != pid and inst[0]["state"] == "ready"
            wait_for(replaced, timeout=60, interval=0.2)
            out = json.loads(c.online_endpoints.invoke("hang", body='{"data": [2]}'))
            assert out["pid"] != pid and out["result"] == [4.0]
        finally:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_split_mirror_and_a_rollout_under_load_drop_nothing(server: ServerProc,
                                                            tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="scaler", path=str(root / "model")))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="ab"))
        for name in ("blue", "green"):
            c.online_deployments.begin_create_or_update(script_deployment(
                root, name, "ab", environment_variables={"TAG": name})).result(timeout=120)
        with pytest.raises(InvalidInputError, match="add up to 100"):
            c.online_endpoints.update("ab", traffic={"blue": 80, "green": 10})
        with pytest.raises(InvalidInputError, match="does not exist"):
            c.online_endpoints.update("ab", traffic={"blue": 90, "red": 10})
        c.online_endpoints.update("ab", traffic={"blue": 90, "green": 10})
        ep, key = c.online_endpoints.get("ab"), c.online_endpoints.get_keys("ab").primary_key
        seen: Counter[str] = Counter()
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as h:
            for _ in range(600):
                r = h.post(ep.scoring_uri, json={"data": [1]})
                assert r.status_code == 200
                seen[r.json()["tag"]] += 1
            assert 30 <= seen["green"] <= 95, seen   # 10% of 600 = 60
            forced = h.post(ep.scoring_uri, json={"data": [1]},
                            headers={"azureml-model-deployment": "green"})
            assert forced.json()["tag"] == "green"

            c.online_endpoints.update("ab", traffic={"blue": 100, "green": 0},
                                      mirror_traffic={"green": 20})
            before = c.online_endpoints.get_metrics("ab")["green"]["request_count"]
            tags = {h.post(ep.scoring_uri, json={"data": [1]}).json()["tag"] for _ in range(200)}
            assert tags == {"blue"}
            wait_for(lambda: c.online_endpoints.get_metrics("ab")["green"]["request_count"]
                     - before >= 15, timeout=20)
            mirrored = c.online_endpoints.get_metrics("ab")["green"]["request_count"] - before
            assert mirrored <= 80, mirrored   # 20% of 200 = 40
        with pytest.raises(ConflictError, match="100%"):
            c.online_deployments.begin_delete("blue", "ab")

        failures: list[str] = []
        answered: Counter[str] = Counter()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as h2:
                while not stop.is_set():
                    try:
                        r = h2.post(ep.scoring_uri, json={"data": [1]})
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                        continue
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        answered[r.json()["tag"]] += 1
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: answered["blue"] >= 20, timeout=60)   # the load is flowing
        c.online_deployments.begin_create_or_update(script_deployment(
            root, "blue", "ab", instance_count=2,
            environment_variables={"TAG": "blue-v2"})).result(timeout=120)
        wait_for(lambda: answered["blue-v2"] >= 20, timeout=60)   # and reaches the new one
        stop.set()
        for t in threads:
            t.join()
        assert failures == []
        assert answered["blue"] > 0 and answered["blue-v2"] > 0
        assert len(c.online_deployments.instances("blue", "ab")) == 2


def test_request_timeout_and_concurrency_limit(server: ServerProc, tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        ep, key = serve_script(c, root, "lim", request_settings=RequestSettings(
            request_timeout_ms=1500, max_concurrent_requests_per_instance=1,
            max_queue_wait_ms=0))
        first = tmp_path / "first"
        assert score(ep.scoring_uri, key, {"hold": str(first)}).status_code == 504
        first.touch()   # the timed-out run() returns; the worker takes requests again
        wait_for(lambda: score(ep.scoring_uri, key, {"data": [1]}).status_code == 200,
                 timeout=60, interval=0.2)
        codes: list[int] = []
        held = tmp_path / "held"
        slow = threading.Thread(target=lambda: codes.append(
            score(ep.scoring_uri, key, {"hold": str(held)}).status_code))
        slow.start()
        wait_for(lambda: Path(f"{held}.started").exists())   # the only slot is taken
        codes.append(score(ep.scoring_uri, key, {"data": [1]}).status_code)
        held.touch()
        slow.join()
        assert codes == [429, 200]


def test_inference_load_does_not_starve_the_control_api(server: ServerProc,
                                                         tmp_path: Path) -> None:
    """The router is its own process: with every scoring slot taken and requests queued, the
    control API still answers (jobs, models, endpoints)."""
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        ep, key = serve_script(c, root, "busy", request_settings=RequestSettings(
            request_timeout_ms=20_000, max_concurrent_requests_per_instance=1,
            max_queue_wait_ms=20_000))
        codes: list[int] = []

        release = tmp_path / "release"   # every scoring request is held until the checks end

        def flood() -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as h:
                for _ in range(3):
                    codes.append(h.post(ep.scoring_uri, json={"hold": str(release)}
                                        ).status_code)
        threads = [threading.Thread(target=flood) for _ in range(24)]
        for t in threads:
            t.start()
        wait_for(lambda: Path(f"{release}.started").exists())   # the slot is taken
        answered = []
        with httpx.Client(headers=server.headers, timeout=5) as control:
            for _ in range(20):   # each must answer while 70-odd scoring requests wait
                answered.append(control.get(f"{server.api()}/online-endpoints").status_code)
                answered.append(control.get(f"{server.api()}/models").status_code)
        busy_during_checks = any(t.is_alive() for t in threads)
        release.touch()
        for t in threads:
            t.join()
        assert answered == [200] * 40 and busy_during_checks
        assert set(codes) <= {200, 429} and codes.count(200) >= 24


def test_data_collection_writes_payloads_and_an_asset(server: WorkspaceServer,
                                                      tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    (tmp_path / "dep.yml").write_text(
        "name: blue\nendpoint_name: col\nmodel: azureml:scaler:1\n"
        "code_configuration: {code: ./src, scoring_script: score.py}\ninstance_count: 1\n"
        "data_collector:\n  sampling_rate: 1.0\n  collections:\n"
        "    request: {enabled: 'True'}\n    response: {enabled: 'True'}\n")
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="scaler", path=str(root / "model")))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="col"))
    assert ember(server, "online-deployment", "create", "-f", str(tmp_path / "dep.yml"),
                 "--all-traffic").returncode == 0
    with MLClient(endpoint=server.url) as c:
        for i in range(3):
            c.online_endpoints.invoke("col", body=json.dumps({"data": [i]}))
        assert c.data.get("col-blue-model_inputs").type == "uri_folder"
        assert c.data.get("col-blue-model_outputs").path.endswith("/col/blue/response")
    base = server.home / f"artifacts/workspaces/{server.workspace}/datastores/" \
        "workspaceblobstore/modelDataCollector/col/blue"

    def lines(kind: str) -> list[dict[str, object]]:
        return [json.loads(line) for f in sorted((base / kind).rglob("*.jsonl"))
                for line in f.read_text().splitlines()]
    wait_for(lambda: len(lines("request")) == 3 and len(lines("response")) == 3, timeout=10)
    assert [r["data"] for r in lines("request")] == [{"data": [0]}, {"data": [1]},
                                                     {"data": [2]}]
    assert {r["id"] for r in lines("request")} == {r["id"] for r in lines("response")}


def test_bad_requests_are_refused_with_the_reason(server: ServerProc, tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    (tmp_path / "bad.yml").write_text("name: x\nendpoint_name: e\ninstance_cuont: 1\n")
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "bad.yml"))
    assert r.returncode != 0 and "instance_cuont" in r.stderr and "did you mean" in r.stderr
    (tmp_path / "nofile.yml").write_text(
        "name: x\nendpoint_name: e\ncode_configuration: {code: ./src, scoring_script: nope.py}\n")
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "nofile.yml"))
    assert r.returncode != 0 and "nope.py" in r.stderr
    with MLClient(endpoint=server.url) as c:
        with pytest.raises(UnsupportedError, match="keys"):
            c.online_endpoints.create_or_update(OnlineEndpoint(name="t", auth_mode="aml_token"))
        c.models.create_or_update(Model(name="scaler", path=str(root / "model")))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="e"))
        with pytest.raises(InvalidInputError, match="needs code_configuration"):
            c.online_deployments.begin_create_or_update(OnlineDeployment(
                name="nocode", endpoint_name="e", model="azureml:scaler:1"))
        with pytest.raises(NotFoundError, match="missing:1"):
            c.online_deployments.begin_create_or_update(OnlineDeployment(
                name="nomodel", endpoint_name="e", model="azureml:missing:1"))
        (root / "src/crash.py").write_text("def init():\n    raise RuntimeError('no GPU here')\n"
                                           "def run(raw):\n    return raw\n")
        crash = OnlineDeployment(name="crash", endpoint_name="e", model="azureml:scaler:1",
                                 code_configuration=CodeConfiguration(str(root / "src"),
                                                                      "crash.py"))
        with pytest.raises(DeploymentFailedError, match="no GPU here"):
            c.online_deployments.begin_create_or_update(crash).result(timeout=120)
        assert c.online_deployments.get("crash", "e").provisioning_state == "Failed"
        assert "RuntimeError: no GPU here" in c.online_deployments.get_logs("crash", "e")
    r = ember(server, "online-endpoint", "update", "-n", "e", "--traffic", "crash=fifty")
    assert r.returncode != 0 and "<deployment>=<percent>" in r.stderr
    with pytest.raises(SpecError):
        from ember.specs.online_endpoints import load_online_endpoint_spec
        (tmp_path / "ep.yml").write_text("name: e\ntraffic: {blue: 150}\n")
        load_online_endpoint_spec(tmp_path / "ep.yml")


def test_endpoints_come_back_after_a_server_restart(ember_home: Path, tmp_path: Path) -> None:
    """The restarted server binds the router to another port than the running one (the API
    port + 1, where the first start took any): that router is replaced, while the workers are
    adopted and keep their pids (tests/serving/test_server_restart.py has the rest)."""
    root = scoring_project(tmp_path)
    first = ServerProc(ember_home).start()
    try:
        with MLClient(endpoint=first.url) as c:
            ep, key = serve_script(c, root, "keep")
            old_pid = json.loads(c.online_endpoints.invoke("keep", body='{"data": [1]}'))["pid"]
    finally:
        first.kill()
    second = ServerProc(ember_home).start(port=first.port)
    try:
        with MLClient(endpoint=second.url) as c:
            wait_for(lambda: c.online_deployments.get("blue", "keep").provisioning_state
                     == "Succeeded", timeout=60)
            uri = c.online_endpoints.get("keep").scoring_uri
            assert uri != ep.scoring_uri and uri.startswith(f"http://127.0.0.1:{first.port + 1}/")
            out = json.loads(c.online_endpoints.invoke("keep", body='{"data": [3]}'))
            assert out["result"] == [6.0] and out["pid"] == old_pid
            assert c.online_endpoints.get_keys("keep").primary_key == key
        with pytest.raises(httpx.TransportError):   # the first router is gone
            score(ep.scoring_uri, key, {"data": [1]})
    finally:
        second.stop()
    wait_for(lambda: not _alive(old_pid), timeout=20)   # a deliberate stop stops the workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    import psutil
    return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_invoke_as_the_caller_through_the_rest_api(server: WorkspaceServer,
                                                   tmp_path: Path) -> None:
    """``POST .../online-endpoints/<e>/score`` sends the body on with the endpoint's key (kept
    on the server) and answers what the scoring service answered: status, body, deployment."""
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        serve_script(c, root, "callee", environment_variables={"TAG": "t2"})
    base = f"{server.api()}/online-endpoints/callee"
    r = httpx.post(f"{base}/score", headers=server.headers, json={"data": [1, 2]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == [2.0, 4.0] and r.json()["tag"] == "t2"
    assert r.headers["azureml-model-deployment"] == "blue"
    r = httpx.post(f"{base}/score", params={"deployment_name": "blue"}, headers=server.headers,
                   json={"fail": True}, timeout=30)
    assert r.status_code == 500 and r.json()["error_code"] == "USER_ERROR"
    assert "bad input: fail requested" in r.json()["message"]
    r = httpx.post(f"{base}/score", params={"deployment_name": "nope"},
                   headers=server.headers, json={"data": [1]}, timeout=30)
    assert r.status_code == 404 and "nope" in r.text
    r = httpx.post(f"{server.api()}/online-endpoints/missing/score", headers=server.headers,
                   json={"data": [1]}, timeout=30)
    assert r.status_code == 404 and "missing" in r.json()["message"]
    shown = httpx.get(f"{base}/deployments/blue", headers=server.headers, timeout=30).json()
    assert shown["serves"] == "model"
    usage = httpx.get(f"{base}/usage", headers=server.headers, timeout=30).json()
    assert usage["primary"]["prompt_tokens"] == usage["primary"]["completion_tokens"] == 0
    # a deployment that is not a language model has no OpenAI API: the worker says so
    r = httpx.post(f"{base}/v1/chat/completions", headers=server.headers, timeout=30,
                   json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code >= 400
