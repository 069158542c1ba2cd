"""Batch endpoints end to end: real server, real batch scoring jobs, real driver processes."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint, BatchSettings
from ember.entities.data import DataAsset
from ember.entities.online_endpoints import CodeConfiguration
from ember.entities.jobs import Job, JobStatus
from ember.entities.models import Model
from ember.errors import InvalidInputError, SpecError
from ember.specs.batch_endpoints import load_batch_deployment_spec
from tests.conftest import ServerProc, wait_for
from tests.serving.conftest import sklearn_mlflow_model
from tests.test_cli import ember

BATCH_SCORE = """
import os

def init():
    global scale
    scale = float(open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model",
                                    "weights.txt")).read())

def run(mini_batch):
    out = []
    for path in mini_batch:
        text = open(path).read()
        if "bad" in text:
            raise ValueError(f"cannot score {os.path.basename(path)}")
        out.append(f"{os.path.basename(path)} {float(text) * scale}")
    return out
"""


def project(root: Path, values: dict[str, str]) -> Path:
    (root / "model").mkdir(parents=True)
    (root / "model/weights.txt").write_text("10")
    (root / "src").mkdir()
    (root / "src/batch_score.py").write_text(textwrap.dedent(BATCH_SCORE).lstrip())
    (root / "inputs").mkdir()
    for name, text in values.items():
        (root / "inputs" / name).write_text(text)
    return root


def finish(c: MLClient, job: Job, timeout: float = 180) -> Job:
    return wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL and j,
                    timeout=timeout, interval=0.2)


def predictions(c: MLClient, job: Job, tmp: Path) -> list[str]:
    c.jobs.download(job.name, tmp, output_name="score")
    return (tmp / "named-outputs/score/predictions.csv").read_text().splitlines()


def test_cli_batch_scoring_of_a_folder(server: ServerProc, tmp_path: Path) -> None:
    root = project(tmp_path, {f"f{i}.txt": str(i) for i in range(7)})
    (tmp_path / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\n"
        "name: scorer\nauth_mode: aad_token\n")
    (tmp_path / "dep.yml").write_text(textwrap.dedent("""
        $schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
        name: d1
        endpoint_name: scorer
        type: model
        model:
          path: ./model
        code_configuration:
          code: ./src
          scoring_script: batch_score.py
        environment:
          name: batch-env
          image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
          conda_file:
            dependencies: [python=3.11, {pip: [inflection==0.5.1]}]
        compute: azureml:batch-cluster
        resources:
          instance_count: 1
        settings:
          mini_batch_size: 3
          max_concurrency_per_instance: 2
          output_action: append_row
          output_file_name: predictions.csv
          retry_settings:
            max_retries: 1
            timeout: 30
          error_threshold: -1
        """).lstrip())
    assert ember(server, "batch-endpoint", "create", "-f",
                 str(tmp_path / "endpoint.yml")).returncode == 0
    r = ember(server, "batch-deployment", "create", "-f", str(tmp_path / "dep.yml"), "-o",
              "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(ember(server, "batch-endpoint", "show", "-n", "scorer", "-o",
                             "json").stdout)
    assert shown["default_deployment"] == "d1"
    r = ember(server, "batch-endpoint", "invoke", "-n", "scorer", "--input",
              str(root / "inputs"), "--stream", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    job_name = r.stdout[r.stdout.index("{"):]
    job = json.loads(job_name)
    assert job["status"] == "Completed"
    # the named inline environment (issue 10) was built and the driver ran in it
    log = httpx.get(f"{server.api()}/jobs/{job['name']}/logs", headers=server.headers).text
    assert "building environment batch-env (inline)" in log or \
        "reusing cached environment batch-env (inline)" in log, log
    with MLClient(endpoint=server.url) as c:
        lines = predictions(c, c.jobs.get(job["name"]), tmp_path / "dl")
        assert sorted(lines) == sorted(f"f{i}.txt {i * 10.0}" for i in range(7))
        assert [j.name for j in c.batch_endpoints.list_jobs("scorer")] == [job["name"]]
    listed = json.loads(ember(server, "batch-endpoint", "list-jobs", "-n", "scorer", "-o",
                              "json").stdout)
    assert [j["name"] for j in listed] == [job["name"]]


@pytest.mark.parametrize("threshold, expected", [(3, JobStatus.COMPLETED),
                                                 (1, JobStatus.FAILED)])
def test_bad_files_under_and_over_the_error_threshold(server: ServerProc, tmp_path: Path,
                                                      threshold: int, expected: str) -> None:
    values = {f"f{i}.txt": str(i) for i in range(5)}
    values.update({"x1.txt": "bad", "x2.txt": "bad"})
    root = project(tmp_path, values)
    with MLClient(endpoint=server.url) as c:
        c.batch_endpoints.create_or_update(BatchEndpoint(name="thr"))
        c.batch_deployments.create_or_update(BatchDeployment(
            name="d", endpoint_name="thr", model=Model(name="scale10", path=str(root / "model")),
            code_configuration=CodeConfiguration(str(root / "src"), "batch_score.py"),
            settings=BatchSettings(mini_batch_size=1, error_threshold=threshold)))
        job = finish(c, c.batch_endpoints.invoke("thr", input=root / "inputs"))
        assert job.status == expected, job.error
        assert job.creation_context is not None
        assert job.creation_context.created_by == "owner"   # who invoked the endpoint
        log = io.StringIO()
        c.jobs.stream(job.name, out=log)
        assert "cannot score x1.txt" in log.getvalue()   # the user's traceback, in the log
        if expected == JobStatus.COMPLETED:
            assert len(predictions(c, job, tmp_path / "dl")) == 5
        else:
            assert "over error_threshold 1" in log.getvalue()


def test_mlflow_model_scores_csv_files_with_no_code(server: ServerProc, tmp_path: Path) -> None:
    sklearn_mlflow_model(tmp_path / "sk")
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv").write_text("x1,x2\n0.95,0.05\n0.05,0.95\n")
    (tmp_path / "in/b.csv").write_text("x1,x2\n0.9,0.1\n")
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="sk", path=str(tmp_path / "sk"),
                                        type="mlflow_model"))
        c.batch_endpoints.create_or_update(BatchEndpoint(name="nocode"))
        c.batch_deployments.create_or_update(BatchDeployment(
            name="mlflow", endpoint_name="nocode", model="azureml:sk@latest"))
        c.data.create_or_update(DataAsset(name="batch-in", version="", path=str(tmp_path / "in"),
                                          type="uri_folder"))
        uri = c.data.get("batch-in", "1").path
        assert uri.startswith("azureml://datastores/")
        for source in ("azureml:batch-in:1", str(tmp_path / "in"), uri):
            job = finish(c, c.batch_endpoints.invoke("nocode", input=source))
            assert job.status == JobStatus.COMPLETED, job.error
            rows = sorted(predictions(c, job, tmp_path / job.name))
            assert rows == ["0,1,a.csv", "0,1,b.csv", "1,0,a.csv"], rows   # row,prediction,file


def test_bad_batch_specs_and_references(server: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text("name: p\nendpoint_name: e\ntype: pipeline\n"
                                    "component: azureml:c:1\n")
    with pytest.raises(SpecError, match="pipeline"):
        load_batch_deployment_spec(tmp_path / "p.yml")
    (tmp_path / "k.yml").write_text("name: p\nendpoint_name: e\ntype: model\nmodel: azureml:m:1\n"
                                    "settings: {mini_batch_sise: 3}\n")
    with pytest.raises(SpecError, match="mini_batch_sise"):
        load_batch_deployment_spec(tmp_path / "k.yml")
    with MLClient(endpoint=server.url) as c:
        c.batch_endpoints.create_or_update(BatchEndpoint(name="e"))
        with pytest.raises(InvalidInputError, match="no deployment"):
            c.batch_endpoints.invoke("e", input=tmp_path)
        with pytest.raises(InvalidInputError, match="does not exist"):
            c.batch_endpoints.invoke("e", input=tmp_path / "missing")
