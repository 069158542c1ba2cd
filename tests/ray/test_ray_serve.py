"""Online deployments on Ray Serve (``compute: azureml:<ray compute>``), through the router: a
real Ember server on loopback, the session's real Ray cluster, real HTTP.

One endpoint for the module (two cores: each Serve app costs seconds): a local deployment
``blue`` and a Ray one ``ray1``, both the same scoring script, told apart by ``TAG``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ember.client.compute import Compute
from ember.client.mlclient import MLClient
from ember.entities.online_endpoints import CodeConfiguration, OnlineDeployment, OnlineEndpoint
from ember.entities.models import Model
from ember.errors import DeploymentFailedError, NotFoundError, UnsupportedError
from ember.serving.protocol import WORKER_KEY_HEADER
from ember.specs.online_endpoints import load_online_deployment_spec
from tests.conftest import ServerProc, wait_for
from tests.ray.cluster import RayCluster, free_port
from tests.serving.conftest import scoring_project, sklearn_mlflow_model

pytestmark = pytest.mark.xdist_group("ray")
ENDPOINT = "rs"
WS = "default"


@dataclass
class Served:
    server: ServerProc
    client: MLClient
    root: Path
    scoring_uri: str
    key: str
    cluster: RayCluster


def deployment(root: Path, name: str, tag: str, compute: str = "azureml:rc",
               script: str = "score.py") -> OnlineDeployment:
    return OnlineDeployment(name=name, endpoint_name=ENDPOINT, model="azureml:scaler:1",
                            code_configuration=CodeConfiguration(str(root / "src"), script),
                            environment_variables={"TAG": tag}, compute=compute)


def score(s: Served, body: object, deployment: str | None = None,
          key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {s.key if key is None else key}"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    return httpx.post(s.scoring_uri, json=body, headers=headers, timeout=30)


def serve_apps(cluster: RayCluster) -> dict[str, str]:
    """Serve's applications on the cluster, name → status (from the dashboard)."""
    found = httpx.get(f"{cluster.address}/api/serve/applications/", timeout=10).json()
    return {name: app["status"] for name, app in (found.get("applications") or {}).items()}


def serve_port(cluster: RayCluster) -> int:
    found = httpx.get(f"{cluster.address}/api/serve/applications/", timeout=10).json()
    return int(found["http_options"]["port"])


@pytest.fixture(scope="module")
def served(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve-home")
    root = scoring_project(home.parent / "proj", scale=2.0)
    # the router's port stays "any" on a restart too, so the restarted server adopts it
    server = ServerProc(home, extra=["--serving-port", "0"]).start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBER_HOME", str(home))
        mp.setenv("EMBER_WORKSPACE", WS)
        c = MLClient(endpoint=server.url, workspace=WS)
        try:
            c.compute.create_or_update(Compute(name="rc", type="ray",
                                               address=ray_cluster.address,
                                               resources={"CPU": 0.25}))
            c.models.create_or_update(Model(name="scaler", path=str(root / "model")))
            c.online_endpoints.create_or_update(OnlineEndpoint(name=ENDPOINT))
            c.online_deployments.begin_create_or_update(
                deployment(root, "blue", "local", compute=""), all_traffic=True
            ).result(timeout=120)
            d = c.online_deployments.begin_create_or_update(
                deployment(root, "ray1", "ray")).result(timeout=240)
            assert d.provisioning_state == "Succeeded", d.error
            yield Served(server, c, root, c.online_endpoints.get(ENDPOINT).scoring_uri,
                         c.online_endpoints.get_keys(ENDPOINT).primary_key, ray_cluster)
        finally:
            c.close()
            # a deliberate stop deletes the Serve apps it ran ("mlf"): one Ray job, given
            # the time it takes on a busy machine
            if server.proc is not None and server.proc.poll() is None:
                server.proc.send_signal(signal.SIGTERM)
                server.proc.wait(120)
    assert not [a for a in serve_apps(ray_cluster) if a.startswith("ember-default-rs-")]
    # Serve itself stays up for the cluster (Ember never stops it): stopped here, for the
    # session's cluster stops in 3 s without it, 30 s with it
    ray = ray_cluster.client()
    job = ray.submit_job(entrypoint="python -c 'from ray import serve; serve.shutdown()'")
    wait_for(lambda: ray.get_job_status(job).is_terminal(), timeout=120, interval=0.2)


def test_a_ray_deployment_answers_through_the_router_with_the_key(served: Served) -> None:
    r = score(served, {"data": [1, 2]}, deployment="ray1")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == [2.0, 4.0] and r.json()["tag"] == "ray"
    assert r.headers["azureml-model-deployment"] == "ray1"
    # the scoring script's own error comes back as from a local worker
    r = score(served, {"fail": True}, deployment="ray1")
    assert r.status_code == 500 and "bad input: fail requested" in r.json()["message"]
    assert score(served, {"data": [1]}, deployment="ray1", key="wrong").status_code == 401
    assert httpx.post(served.scoring_uri, json={"data": [1]},
                      headers={"azureml-model-deployment": "ray1"}).status_code == 401
    # Serve's proxy is on the network: the replica answers only the router's secret
    app = "ember-default-rs-ray1-g1"
    assert serve_apps(served.cluster).get(app) == "RUNNING"
    proxy = f"http://127.0.0.1:{serve_port(served.cluster)}/{app}"
    for headers in ({}, {"Authorization": f"Bearer {served.key}"}, {WORKER_KEY_HEADER: "x"}):
        r = httpx.post(f"{proxy}/score", json={"data": [1]}, headers=headers, timeout=10)
        assert r.status_code == 401 and "result" not in r.text
    assert httpx.get(f"{proxy}/ready", timeout=10).status_code == 200
    d = served.client.online_deployments.get("ray1", ENDPOINT)
    assert d.compute == "azureml:rc"
    got = httpx.get(f"{served.server.api(WS)}/online-endpoints/{ENDPOINT}/deployments/ray1",
                    headers=served.server.headers).json()
    assert [(i["compute"], i["serve_app"]) for i in got["instances"]] == [("rc", app)]
    # the deploy job's log, then what the replica printed (its init(), run()'s traceback)
    logs = served.client.online_deployments.get_logs("ray1", ENDPOINT)
    assert f"app {app} running" in logs and f"of {app} (pid" in logs
    assert "init done, scale 2.0" in logs and "ValueError: bad input: fail requested" in logs


def test_traffic_splits_between_a_local_and_a_ray_deployment(served: Served) -> None:
    c = served.client
    c.online_endpoints.update(ENDPOINT, traffic={"blue": 50, "ray1": 50})
    try:
        tags = set()
        for _ in range(60):
            r = score(served, {"data": [1]})
            assert r.status_code == 200, r.text
            tags.add(r.json()["tag"])
            if tags == {"local", "ray"}:
                break
        assert tags == {"local", "ray"}
        metrics = httpx.get(f"{served.server.api(WS)}/online-endpoints/{ENDPOINT}/metrics",
                            headers=served.server.headers)
        assert metrics.status_code == 200   # the router counts the Ray deployment as any other
        assert metrics.json()["ray1"]["request_count"] >= 1, metrics.text
    finally:
        c.online_endpoints.update(ENDPOINT, traffic={"blue": 100})


def test_an_update_rolls_out_with_no_failed_request(served: Served) -> None:
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                r = http.post(served.scoring_uri, json={"data": [1]},
                              headers={"Authorization": f"Bearer {served.key}",
                                       "azureml-model-deployment": "ray1"})
                seen.append((r.status_code, r.json().get("tag", r.text)))
                stop.wait(0.05)   # paced: two cores also run the router, Serve and Ray

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(seen) >= 5, timeout=30)
        update = deployment(served.root, "ray1", "ray2")
        update.instance_count = 2   # and scaled: two replicas, an upstream each in the router
        d = served.client.online_deployments.begin_create_or_update(update).result(timeout=240)
        assert d.provisioning_state == "Succeeded", d.error
        assert len(served.client.online_deployments.instances("ray1", ENDPOINT)) == 2
        wait_for(lambda: any(tag == "ray2" for _, tag in seen[-3:]), timeout=30)
        # the old generation's app goes once its requests have drained
        wait_for(lambda: "ember-default-rs-ray1-g1" not in serve_apps(served.cluster),
                 timeout=60, interval=0.5)
        wait_for(lambda: len(seen) >= 10, timeout=30)
    finally:
        stop.set()
        thread.join(timeout=30)
    failed = [s for s in seen if s[0] != 200]
    assert not failed, failed[:5]
    tags = [tag for _, tag in seen]
    assert tags[0] == "ray" and tags[-1] == "ray2"
    assert serve_apps(served.cluster).get("ember-default-rs-ray1-g2") == "RUNNING"


def test_a_no_code_mlflow_model_is_served_on_ray(served: Served, tmp_path: Path) -> None:
    c = served.client
    c.models.create_or_update(Model(name="clf", path=str(sklearn_mlflow_model(tmp_path / "sk")),
                                    type="mlflow_model"))
    d = c.online_deployments.begin_create_or_update(OnlineDeployment(
        name="mlf", endpoint_name=ENDPOINT, model="azureml:clf:1", compute="azureml:rc")
    ).result(timeout=240)
    assert d.provisioning_state == "Succeeded", d.error
    rows = {"input_data": {"columns": ["x1", "x2"], "index": [0, 1],
                           "data": [[0.95, 0.05], [0.05, 0.95]]}}
    r = score(served, rows, deployment="mlf")
    assert r.status_code == 200 and r.json() == [1, 0], r.text
    r = score(served, {"rows": []}, deployment="mlf")   # MLflow's refusal, as locally: a 400
    assert r.status_code == 400 and "input_data" in r.json()["message"]
    # left running: the server's stop at the end of the module deletes its app


def test_an_init_that_raises_fails_the_deployment_with_its_error(served: Served) -> None:
    (served.root / "src" / "bad.py").write_text(
        "def init():\n    raise RuntimeError('the model file is corrupt')\n\n"
        "def run(raw):\n    return raw\n")
    with pytest.raises(DeploymentFailedError) as info:
        served.client.online_deployments.begin_create_or_update(
            deployment(served.root, "bad", "bad", script="bad.py")).result(timeout=240)
    message = str(info.value)
    assert "'bad'" in message and "'rc'" in message
    assert "RuntimeError: the model file is corrupt" in message
    assert "\n" not in served.client.online_deployments.get("bad", ENDPOINT).error.strip()
    assert "ember-default-rs-bad-g1" not in serve_apps(served.cluster)   # nothing left behind
    served.client.online_deployments.begin_delete("bad", ENDPOINT).result()


def test_an_unreachable_ray_compute_fails_the_deployment_naming_it(served: Served) -> None:
    c = served.client
    address = f"http://127.0.0.1:{free_port()}"
    c.compute.create_or_update(Compute(name="gone", type="ray", address=address))
    with pytest.raises(DeploymentFailedError) as info:
        c.online_deployments.begin_create_or_update(
            deployment(served.root, "lost", "x", compute="azureml:gone")).result(timeout=120)
    message = str(info.value)
    assert "'lost'" in message and "'gone'" in message and address in message
    c.online_deployments.begin_delete("lost", ENDPOINT).result()
    c.compute.delete("gone")
    # a compute deleted meanwhile: the deployment names it
    with pytest.raises(NotFoundError, match="'lost': compute 'gone' does not exist"):
        c.online_deployments.begin_create_or_update(
            deployment(served.root, "lost", "x", compute="azureml:gone")).result(timeout=60)


def test_what_a_ray_deployment_cannot_have_is_refused_at_once(served: Served) -> None:
    d = deployment(served.root, "envd", "x")
    d.environment = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
    with pytest.raises(UnsupportedError, match="'envd' on compute 'azureml:rc': `environment` "
                                               "is not supported on a Ray compute"):
        served.client.online_deployments.begin_create_or_update(d)


def test_the_deployment_yaml_takes_a_compute(tmp_path: Path) -> None:
    spec = tmp_path / "d.yml"
    spec.write_text("name: blue\nendpoint_name: e\nmodel: azureml:m:1\n"
                    "compute: azureml:rc\n")
    assert load_online_deployment_spec(spec).compute == "azureml:rc"


def test_without_ray_the_error_names_the_extra() -> None:
    code = ("import sys; sys.modules['ray'] = None\n"   # Ray hidden in this process only
            "from ember.serving.ray_serve import _client\n"
            "try:\n    _client('http://127.0.0.1:1', 'online deployment x')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
                         timeout=60)
    assert out.stdout.strip() == ("UnsupportedError online deployment x: Ray is not installed "
                                  "on the Ember server: pip install 'ember-ml[ray]'"), out.stderr


def _serve_app_of(s: Served, name: str) -> str:
    got = httpx.get(f"{s.server.api(WS)}/online-endpoints/{ENDPOINT}/deployments/{name}",
                    headers=s.server.headers, timeout=10).json()
    return str(got["instances"][0]["serve_app"]) if got["instances"] else ""


def test_a_server_killed_and_restarted_adopts_the_running_serve_app(served: Served) -> None:
    app = _serve_app_of(served, "ray1")
    generation = served.client.online_deployments.get("ray1", ENDPOINT).generation
    served.server.kill()
    r = score(served, {"data": [1]}, deployment="ray1")   # the router outlives the server
    assert r.status_code == 200, r.text
    served.server.start()
    wait_for(lambda: _serve_app_of(served, "ray1") == app, timeout=60, interval=0.2)
    d = served.client.online_deployments.get("ray1", ENDPOINT)
    assert (d.provisioning_state, d.generation) == ("Succeeded", generation)
    r = score(served, {"data": [1]}, deployment="ray1")
    assert r.status_code == 200 and r.json()["tag"] == "ray2", r.text
    assert [a for a in serve_apps(served.cluster) if a.startswith("ember-default-rs-ray1-")] \
        == [app]   # adopted, not deployed again


def test_deleting_the_deployment_deletes_its_serve_app(served: Served) -> None:
    before = [a for a in serve_apps(served.cluster) if a.startswith("ember-default-rs-ray1-")]
    assert before
    served.client.online_deployments.begin_delete("ray1", ENDPOINT).result()
    wait_for(lambda: not [a for a in serve_apps(served.cluster)
                          if a.startswith("ember-default-rs-ray1-")], timeout=60, interval=0.5)
    assert score(served, {"data": [1]}, deployment="ray1").status_code == 404
