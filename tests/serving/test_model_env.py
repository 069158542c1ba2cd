"""No-code MLflow deployments run on the server's Python when it has what the model's
requirements.txt names, and otherwise in an environment built from that file."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from ember.entities.models import Model
from ember.errors import DeploymentFailedError
from ember.serving.model_files import mlflow_environment, missing_packages, model_requirements
from tests.conftest import ServerProc
from tests.test_cli import ember
from tests.serving.conftest import sklearn_mlflow_model

MISSING = "ember-test-no-such-package-4f1c==0.0.1"


def test_requirements_decide_the_environment(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# comment\nmlflow==0.1\n-r other.txt\n"
                                               "scikit-learn>=1\n\n")
    assert model_requirements(tmp_path) == ["mlflow==0.1", "scikit-learn>=1"]
    assert missing_packages(model_requirements(tmp_path)) == []
    assert mlflow_environment(str(tmp_path)) is None   # installed here, whatever the version
    (tmp_path / "requirements.txt").write_text(f"mlflow\n{MISSING}\nnot a requirement!\n")
    assert missing_packages(model_requirements(tmp_path)) == [MISSING, "not a requirement!"]
    env = mlflow_environment(str(tmp_path))
    assert env is not None and env.pip_requirements == ["mlflow", MISSING,
                                                        "not a requirement!"]
    assert mlflow_environment(str(tmp_path / "nowhere")) is None


def _pin_conda(folder: Path, pins: list[str], python: str = "3.11.7") -> None:
    """Rewrite an MLflow model's conda.yaml with these pip pins (its requirements.txt stays)."""
    lines = "".join(f"    - {p}\n" for p in pins)
    (folder / "conda.yaml").write_text(
        f"channels: [conda-forge]\ndependencies:\n- python={python}\n- pip<=23.2.1\n- pip:\n"
        f"{lines}name: mlflow-env\n")


def test_conda_yaml_comes_first_then_requirements_txt(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mlflow\n")
    _pin_conda(tmp_path, ["mlflow", MISSING])
    env = mlflow_environment(str(tmp_path))
    assert env is not None and env.pip_requirements is None
    assert env.conda_file is not None and MISSING in str(env.conda_file)
    _pin_conda(tmp_path, ["mlflow"])          # every pin installed here: the server's Python
    assert mlflow_environment(str(tmp_path)) is None
    # a conda (not pip) pin counts too, read as job environments read conda files
    (tmp_path / "conda.yaml").write_text("dependencies:\n- python=3.11\n- inflection=0.5.1\n"
                                         "- pip:\n  - mlflow\n")
    env = mlflow_environment(str(tmp_path))
    assert env is not None and env.conda_file is not None
    (tmp_path / "conda.yaml").write_text(": not yaml [")
    assert mlflow_environment(str(tmp_path)) is None      # falls back to requirements.txt


def test_a_model_needing_a_package_the_server_lacks_gets_a_built_environment(
        server: ServerProc, tmp_path: Path) -> None:
    """The model's conda.yaml pins a package this server lacks: the deployment builds an
    environment from those pins (progress in get-logs), and the worker serves from it."""
    folder = sklearn_mlflow_model(tmp_path / "sk")
    pins = [f"{d}=={metadata.version(d)}" for d in
            ("mlflow-skinny", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle",
             "skops")]
    _pin_conda(folder, [*pins, "inflection==0.5.1"])
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="needs", path=str(folder), type="mlflow_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="env"))
        c.online_deployments.begin_create_or_update(OnlineDeployment(
            name="blue", endpoint_name="env", model="azureml:needs:1"),
            all_traffic=True).result(timeout=600)
        logs = c.online_deployments.get_logs("blue", "env", lines=400)
        assert "building environment of model azureml:needs:1 (its conda.yaml)" in logs
        assert "inflection" in logs
        out = c.online_endpoints.invoke("env", request_file=None, body=json.dumps({
            "input_data": {"columns": ["x1", "x2"], "data": [[1.0, 0.0], [0.0, 1.0]]}}))
        assert "1" in str(out)


def test_model_pins_for_an_older_python_fail_fast_naming_the_package(
        server: ServerProc, tmp_path: Path) -> None:
    """Pins saved under Python 3.8 (scikit-learn 0.24 has no wheel for this Python): the
    build refuses source builds, so it fails at resolution, naming the package and pointing
    at --environment, rather than compiling for minutes."""
    folder = sklearn_mlflow_model(tmp_path / "old")
    # inflection: a package this Python lacks, so the model gets a built environment (numba
    # was that package until the rai extra brought it)
    _pin_conda(folder, ["scikit-learn==0.24.2", "inflection==0.5.1", "mlflow==1.30.0"],
               python="3.8.10")
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="old", path=str(folder), type="mlflow_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="old"))
        with pytest.raises(DeploymentFailedError) as err:
            c.online_deployments.begin_create_or_update(OnlineDeployment(
                name="blue", endpoint_name="old", model="azureml:old:1")).result(timeout=600)
        message = str(err.value)
        assert "no wheel" in message and "scikit-learn==0.24.2" in message, message
        assert "saved with Python 3.8.10" in message
        assert "--environment" in message and "\n" not in message
        assert "environment build" in c.online_deployments.get_logs("blue", "old")
    # the suggested --environment is an option of the CLI (an unknown one is a clear error)
    r = ember(server, "online-deployment", "update", "-n", "blue", "-e", "old",
              "--environment", "azureml:no-such-env:1")
    assert r.returncode != 0 and "no-such-env" in r.stderr and "Traceback" not in r.stderr


def test_batch_scoring_with_impossible_model_pins_fails_fast_too(
        server: ServerProc, tmp_path: Path) -> None:
    """A no-code batch deployment builds the model's environment inside the scoring job: the
    same wheels-only build, so the job fails at resolution naming the package."""
    from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint
    from ember.entities.jobs import JobStatus
    from tests.serving.test_batch_endpoints import finish

    folder = sklearn_mlflow_model(tmp_path / "old")
    _pin_conda(folder, ["scikit-learn==0.24.2", "inflection==0.5.1"], python="3.8.10")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("x1,x2\n0.9,0.1\n")
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="old-batch", path=str(folder),
                                        type="mlflow_model"))
        c.batch_endpoints.create_or_update(BatchEndpoint(name="old-batch"))
        c.batch_deployments.create_or_update(BatchDeployment(
            name="mlflow", endpoint_name="old-batch", model="azureml:old-batch@latest"))
        job = finish(c, c.batch_endpoints.invoke("old-batch", input=str(tmp_path / "in")))
        assert job.status == JobStatus.FAILED
        assert "scikit-learn==0.24.2 has no wheel" in (job.error or ""), job.error
