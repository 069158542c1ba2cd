"""``ember server start --artifacts-url s3://...`` end to end against moto's S3 server on
loopback: jobs, MLflow artifacts, pipelines, registered models and an online deployment keep
every file in the bucket, and the secret key is never shown."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import JobStatus
from ember.entities.models import Model
from ember.entities.online_endpoints import DataCollector, OnlineDeployment, OnlineEndpoint
from ember.specs.any_job import load_any_job_spec
from ember.specs.jobs import load_job_spec
from tests.artifacts.conftest import S3_SECRET, S3Endpoint
from tests.conftest import ServerProc, wait_ended, wait_for
from tests.serving.conftest import sklearn_mlflow_model
from tests.test_cli import ember


@pytest.fixture
def ws(s3_server: tuple[ServerProc, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh workspace on the S3-backed server; the test process itself has no S3 access."""
    srv, _bucket = s3_server
    name = f"s3-{uuid.uuid4().hex[:10]}"
    httpx.post(f"{srv.url}/api/v1/workspaces", json={"name": name},
               headers=srv.headers).raise_for_status()
    monkeypatch.setenv("EMBER_WORKSPACE", name)
    monkeypatch.setenv("EMBER_HOME", str(srv.home))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", srv.token)
    for var in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield name


def keys(s3_endpoint: S3Endpoint, bucket: str, prefix: str) -> list[str]:
    pages = s3_endpoint.client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def no_local_artifacts(home: Path) -> None:
    local = home / "artifacts"
    assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))


def test_command_job_inputs_outputs_logs_and_download(s3_server: tuple[ServerProc, str],
                                                      s3_endpoint: S3Endpoint, ws: str,
                                                      tmp_path: Path) -> None:
    srv, bucket = s3_server
    (tmp_path / "src").mkdir()
    (tmp_path / "src/main.py").write_text(
        "import sys, pathlib\n"
        "text = pathlib.Path(sys.argv[1]).read_text()\n"
        "print('read', text.strip())\n"
        "pathlib.Path('outputs').mkdir(exist_ok=True)\n"
        "pathlib.Path('outputs/seen.txt').write_text(text)\n"
        "out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'upper.txt').write_text(text.upper())\n")
    (tmp_path / "data.txt").write_text("hello s3\n")
    (tmp_path / "job.yml").write_text(
        "command: python main.py ${{inputs.data}} ${{outputs.result}}\ncode: ./src\n"
        "inputs:\n  data: {type: uri_file, path: ./data.txt}\n"
        "outputs:\n  result: {type: uri_folder}\n")
    r = ember(srv, "job", "create", "-f", str(tmp_path / "job.yml"), "-o", "json")
    assert r.returncode == 0, r.stderr
    name = json.loads(r.stdout)["name"]
    with MLClient(endpoint=srv.url) as c:
        job = wait_ended(c, name)
        log = c._http.request("GET", c._http.ws(f"/jobs/{name}/logs")).text
        assert job.status == JobStatus.COMPLETED, log
        assert "read hello s3" in log
    r = ember(srv, "job", "download", "-n", name, "--all", "--download-path",
              str(tmp_path / "dl"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dl/artifacts/outputs/seen.txt").read_text() == "hello s3\n"
    assert "read hello s3" in (tmp_path / "dl/artifacts/user_logs/std_log.txt").read_text()
    assert (tmp_path / "dl/named-outputs/result/upper.txt").read_text() == "HELLO S3\n"
    stored = keys(s3_endpoint, bucket, f"ember/workspaces/{ws}/")
    assert any(k.endswith("/outputs/seen.txt") for k in stored)
    assert any(k.endswith("/user_logs/std_log.txt") for k in stored)
    assert any(k.endswith(f"azureml/{name}/result/upper.txt") for k in stored)
    assert any("/codes/" in k and k.endswith("/main.py") for k in stored)
    assert any("/LocalUpload/" in k and k.endswith("/data.txt") for k in stored)
    no_local_artifacts(srv.home)


def test_mlflow_log_and_download_artifacts(s3_server: tuple[ServerProc, str],
                                           s3_endpoint: S3Endpoint, ws: str,
                                           tmp_path: Path) -> None:
    from mlflow import MlflowClient

    srv, bucket = s3_server
    client = MlflowClient(tracking_uri=f"{srv.url}/workspaces/{ws}")
    exp = client.create_experiment("s3")
    run = client.create_run(exp)
    (tmp_path / "notes.txt").write_text("kept in a bucket\n")
    client.log_artifact(run.info.run_id, str(tmp_path / "notes.txt"), "docs")
    client.set_terminated(run.info.run_id)
    assert [f.path for f in client.list_artifacts(run.info.run_id, "docs")] == ["docs/notes.txt"]
    got = Path(client.download_artifacts(run.info.run_id, "docs", str(tmp_path / "dl")))
    assert (got / "notes.txt").read_text() == "kept in a bucket\n"
    assert any(k.endswith(f"/{run.info.run_id}/artifacts/docs/notes.txt")
               for k in keys(s3_endpoint, bucket, f"ember/workspaces/{ws}/mlartifacts/"))


def test_pipeline_passes_an_output_between_steps(s3_server: tuple[ServerProc, str],
                                                 ws: str, tmp_path: Path) -> None:
    srv, _bucket = s3_server
    (tmp_path / "pipe.yml").write_text(
        "type: pipeline\njobs:\n"
        "  make:\n    type: command\n"
        "    command: mkdir -p ${{outputs.out}} && echo made > ${{outputs.out}}/a.txt\n"
        "    outputs:\n      out: {type: uri_folder}\n"
        "  use:\n    type: command\n"
        "    command: mkdir -p ${{outputs.res}} && cat ${{inputs.inp}}/a.txt > "
        "${{outputs.res}}/b.txt && echo used >> ${{outputs.res}}/b.txt\n"
        "    inputs:\n      inp: ${{parent.jobs.make.outputs.out}}\n"
        "    outputs:\n      res: {type: uri_folder}\n")
    with MLClient(endpoint=srv.url) as c:
        job = c.jobs.create_or_update(load_any_job_spec(tmp_path / "pipe.yml"))
        assert wait_ended(c, job.name).status == JobStatus.COMPLETED
        steps = {ch.step_name: ch for ch in c.jobs.list(parent_job_name=job.name)}
        c.jobs.download(steps["use"].name, tmp_path / "dl", output_name="res",
                        show_progress=False)
    assert (tmp_path / "dl/named-outputs/res/b.txt").read_text() == "made\nused\n"


def test_register_a_job_output_and_download_it(s3_server: tuple[ServerProc, str],
                                               s3_endpoint: S3Endpoint, ws: str,
                                               tmp_path: Path) -> None:
    srv, bucket = s3_server
    (tmp_path / "job.yml").write_text(
        "command: mkdir -p ${{outputs.model}}/m && echo v1 > ${{outputs.model}}/m/w.txt\n"
        "outputs:\n  model:\n    type: uri_folder\n")
    with MLClient(endpoint=srv.url) as c:
        job = c.jobs.create_or_update(load_job_spec(tmp_path / "job.yml"))
        assert wait_ended(c, job.name).status == JobStatus.COMPLETED
        m = c.models.create_or_update(Model(
            name="from-job", path=f"azureml://jobs/{job.name}/outputs/model/paths/m"))
        assert m.run_id == job.name
    r = ember(srv, "model", "download", "-n", "from-job", "-v", "1", "-p", str(tmp_path / "dl"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dl/from-job/w.txt").read_text() == "v1\n"
    assert any(k.endswith("/w.txt") for k in keys(
        s3_endpoint, bucket, f"ember/workspaces/{ws}/mlartifacts/registry/from-job/"))
    # the registered model as a pipeline step's input: downloaded from the bucket into the job
    (tmp_path / "pipe.yml").write_text(
        "type: pipeline\ninputs:\n  m: {type: custom_model, path: azureml:from-job:1}\n"
        "jobs:\n  use:\n    type: command\n"
        "    command: cp ${{inputs.m}}/w.txt ${{outputs.res}}/\n"
        "    inputs:\n      m: ${{parent.inputs.m}}\n"
        "    outputs:\n      res: {type: uri_folder}\n")
    with MLClient(endpoint=srv.url) as c:
        pipe = c.jobs.create_or_update(load_any_job_spec(tmp_path / "pipe.yml"))
        ended = wait_ended(c, pipe.name)
        assert ended.status == JobStatus.COMPLETED, (ended.error, [(j.status, j.error) for j in c.jobs.list(parent_job_name=pipe.name)])
        step = c.jobs.list(parent_job_name=pipe.name)[0]
        c.jobs.download(step.name, tmp_path / "dl3", output_name="res", show_progress=False)
    assert (tmp_path / "dl3/named-outputs/res/w.txt").read_text() == "v1\n"


def test_online_deployment_scores_and_collects_payloads(s3_server: tuple[ServerProc, str],
                                                        s3_endpoint: S3Endpoint, ws: str,
                                                        tmp_path: Path) -> None:
    srv, bucket = s3_server
    sklearn_mlflow_model(tmp_path / "sk")
    endpoint = f"clf-{ws[3:9]}"
    rows = [[0.95, 0.05], [0.05, 0.95]]
    with MLClient(endpoint=srv.url) as c:
        c.models.create_or_update(Model(name="clf", path=str(tmp_path / "sk"),
                                        type="mlflow_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name=endpoint))
        collector = DataCollector(collections={"request": {"enabled": "True"},
                                               "response": {"enabled": "True"}})
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name=endpoint, model="azureml:clf:1",
                             data_collector=collector),
            all_traffic=True).result(timeout=120)
        assert d.provisioning_state == "Succeeded"
        ep = c.online_endpoints.get(endpoint)
        key = c.online_endpoints.get_keys(endpoint).primary_key
        r = httpx.post(ep.scoring_uri, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                       json={"input_data": {"columns": ["x1", "x2"], "data": rows}})
        assert r.status_code == 200 and r.json() == [1, 0]
        assert c.data.get(f"{endpoint}-blue-model_inputs").type == "uri_folder"
    assert any(k.endswith("/MLmodel") for k in keys(
        s3_endpoint, bucket, f"ember/workspaces/{ws}/mlartifacts/registry/clf/"))
    collected = (f"ember/workspaces/{ws}/datastores/workspaceblobstore/modelDataCollector/"
                 f"{endpoint}/blue/")

    def records(kind: str) -> list[dict[str, object]]:
        s3 = s3_endpoint.client()
        return [json.loads(line) for k in keys(s3_endpoint, bucket, collected + kind + "/")
                if k.endswith(".jsonl") for line in
                s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()]
    wait_for(lambda: records("request") and records("response"), timeout=20)
    request, response = records("request"), records("response")
    assert request[0]["data"] == {"input_data": {"columns": ["x1", "x2"], "data": rows}}
    assert response[0]["data"] == [1, 0] and response[0]["id"] == request[0]["id"]
    with MLClient(endpoint=srv.url) as c:
        c.online_endpoints.begin_delete(endpoint).result()


def test_the_secret_key_is_never_shown(s3_server: tuple[ServerProc, str], ws: str) -> None:
    srv, _bucket = s3_server
    listed = httpx.get(f"{srv.api(ws)}/datastores", headers=srv.headers)
    assert listed.status_code == 200
    shown = [listed.text,
             (srv.home / "server.json").read_text(),
             (srv.home / "server-test.log").read_text(errors="replace"),
             *(p.read_text(errors="replace") for p in srv.home.glob("jobs/*/*.json"))]
    assert not [text for text in shown if S3_SECRET in text]
