"""No-code MLflow deployments run on the server's Python when it has what the model's
requirements.txt names, and otherwise in an environment built from that file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from ember.entities.models import Model
from ember.errors import DeploymentFailedError
from ember.serving.model_files import mlflow_environment, missing_packages, model_requirements
from tests.conftest import ServerProc
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


def test_a_model_needing_a_package_the_server_lacks_gets_a_built_environment(
        server: ServerProc, tmp_path: Path) -> None:
    folder = sklearn_mlflow_model(tmp_path / "sk")
    reqs = folder / "requirements.txt"
    reqs.write_text(reqs.read_text() + f"{MISSING}\n")
    with MLClient(endpoint=server.url) as c:
        c.models.create_or_update(Model(name="needs", path=str(folder), type="mlflow_model"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name="env"))
        with pytest.raises(DeploymentFailedError, match="building environment") as err:
            c.online_deployments.begin_create_or_update(OnlineDeployment(
                name="blue", endpoint_name="env", model="azureml:needs:1")).result(timeout=300)
        assert "requirements.txt" in str(err.value) or "ember-test-no-such-package" in str(
            err.value)
