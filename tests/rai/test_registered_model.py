"""The constructor fetches a registered model by id (model_info, or model_info_path's
model_info.json as Azure's training examples write it) from the workspace's registry through
MLflow, as a pipeline step does with the job's tracking URI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.models import Model
from ember.rai import constructor
from tests.conftest import WorkspaceServer
from tests.rai.conftest import Built, construct_args, fails


def test_fetches_a_registered_model_by_id(built: Built, server: WorkspaceServer,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with MLClient(endpoint=server.url, workspace=server.workspace) as client:
        client.models.create_or_update(Model(name="loans", version=1, path=str(built.model),
                                             type="mlflow_model"))
    args = construct_args(built.data, built.model, tmp_path / "o")
    at = args.index("--model_input")
    args[at:at + 2] = ["--model_info", "loans:1"]
    assert "needs the job's MLflow tracking URI" in fails(constructor.main, args, capsys)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.tracking_uri)   # as in a job
    assert constructor.main(args) == 0
    config = json.loads((tmp_path / "o" / "rai_insights.json").read_text())
    assert config["model"] == {"input": "model_info", "reference": "loans:1"}
    assert (tmp_path / "o" / "model" / "MLmodel").is_file()

    (tmp_path / "info").mkdir()
    (tmp_path / "info" / "model_info.json").write_text('{"id": "loans:1"}')
    args[at:at + 2] = ["--model_info_path", str(tmp_path / "info")]
    args[args.index("--rai_insights_dashboard") + 1] = str(tmp_path / "o2")
    assert constructor.main(args) == 0
    args[at:at + 2] = ["--model_info", "loans:7"]
    assert "model_info: cannot fetch registered model 'loans:7': " in fails(
        constructor.main, args, capsys)
