"""The unmodified ``mlflow`` client against a real Ember server."""

from __future__ import annotations

import math
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from tests.conftest import ServerProc
from tests.tracking.conftest import create_workspace


def test_fluent_run_logging_and_search(tracking_uri: str) -> None:
    mlflow.set_experiment("fluent")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_params({"layers": 3, "opt": "adam"})
        mlflow.log_metric("acc", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.8, "loss": float("nan")}, step=2)
        mlflow.set_tag("team", "vision")
    with mlflow.start_run(run_name="second"):
        mlflow.log_param("lr", "0.2")
        mlflow.log_metric("acc", 0.9)
    client = MlflowClient()
    rid = run.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(rid, metrics=[Metric("f1", 0.7, now, 0)], params=[Param("seed", "1")],
                     tags=[RunTag("phase", "eval")])
    got = client.get_run(rid)
    assert got.info.status == "FINISHED" and got.info.run_name == "first"
    assert got.info.artifact_uri == f"mlflow-artifacts:/{got.info.experiment_id}/{rid}/artifacts"
    assert got.data.params == {"lr": "0.1", "layers": "3", "opt": "adam", "seed": "1"}
    assert got.data.metrics["acc"] == 0.8 and math.isnan(got.data.metrics["loss"])
    assert got.data.tags["team"] == "vision" and got.data.tags["phase"] == "eval"
    found = mlflow.search_runs(filter_string="metrics.acc > 0.6 and params.lr = '0.1' "
                                             "and tags.team = 'vision'", output_format="list")
    assert [r.info.run_id for r in found] == [rid]
    ordered = mlflow.search_runs(order_by=["metrics.acc DESC"], output_format="list")
    assert [r.info.run_name for r in ordered] == ["second", "first"]
    frame = mlflow.search_runs(experiment_names=["fluent"])
    assert len(frame) == 2 and "metrics.acc" in frame.columns


def test_metric_history_pages_through_30k_points(tracking_uri: str) -> None:
    client = MlflowClient()
    exp = client.create_experiment("history")
    rid = client.create_run(exp).info.run_id
    now = int(time.time() * 1000)
    for batch in range(30):
        client.log_batch(rid, metrics=[Metric("loss", 1.0 / (i + 1), now + i, i)
                                       for i in range(batch * 1000, (batch + 1) * 1000)])
    history = client.get_metric_history(rid, "loss")  # the client pages 25000 at a time
    assert len(history) == 30000
    assert [m.step for m in history] == list(range(30000))
    assert client.get_run(rid).data.metrics["loss"] == 1.0 / 30000


def test_artifacts_round_trip(tracking_uri: str, tmp_path: Path) -> None:
    mlflow.set_experiment("artifacts")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("alpha")
    (tmp_path / "out" / "deep").mkdir()
    (tmp_path / "out" / "deep" / "b.bin").write_bytes(bytes(range(256)) * 4000)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "out" / "a.txt"))
        mlflow.log_artifacts(str(tmp_path / "out"), artifact_path="tree")
        mlflow.log_text("hello", "notes/hello.txt")
    client = MlflowClient()
    rid = run.info.run_id
    assert sorted(f.path for f in client.list_artifacts(rid)) == ["a.txt", "notes", "tree"]
    deep = client.list_artifacts(rid, "tree/deep")
    assert [(f.path, f.is_dir, f.file_size) for f in deep] == [("tree/deep/b.bin", False,
                                                                1024000)]
    local = Path(client.download_artifacts(rid, "tree", str(tmp_path / "dl")))
    assert (local / "deep" / "b.bin").read_bytes() == bytes(range(256)) * 4000
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/hello.txt") == "hello"


def test_protocol_errors_reach_the_client(tracking_uri: str) -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as missing:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp = client.create_experiment("errors")
    with pytest.raises(MlflowException) as dup:
        client.create_experiment("errors")
    assert dup.value.error_code == "RESOURCE_ALREADY_EXISTS"
    rid = client.create_run(exp).info.run_id
    client.log_param(rid, "lr", "0.1")
    client.log_param(rid, "lr", "0.1")
    with pytest.raises(MlflowException) as changed:
        client.log_param(rid, "lr", "0.2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_experiment_by_name("no such experiment") is None
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as deleted:
        client.log_metric(rid, "m", 1.0)
    assert deleted.value.error_code == "INVALID_PARAMETER_VALUE"
    client.restore_run(rid)
    client.log_metric(rid, "m", 1.0)


def test_client_refuses_escaping_artifact_paths(tracking_uri: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    client = MlflowClient()
    rid = client.create_run(client.create_experiment("escape")).info.run_id
    with pytest.raises(MlflowException):
        client.log_artifact(rid, str(tmp_path / "f.txt"), artifact_path="../../evil")
    with pytest.raises(MlflowException):
        client.download_artifacts(rid, "../../../etc", str(tmp_path / "dl"))


def test_workspaces_do_not_see_each_other(tracking_uri: str,
                                          tracking_server: ServerProc) -> None:
    other_uri = create_workspace(tracking_server, "team-b")
    mine = MlflowClient(tracking_uri)
    exp = mine.create_experiment("private")
    rid = mine.create_run(exp).info.run_id
    theirs = MlflowClient(other_uri)
    with pytest.raises(MlflowException) as hidden:
        theirs.get_run(rid)
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException):
        theirs.log_metric(rid, "m", 1.0)
    assert theirs.get_experiment_by_name("private") is None
    assert theirs.search_runs([theirs.create_experiment("private")]) == []
    # The root mount is the default workspace.
    assert MlflowClient(tracking_server.url).get_run(rid).info.run_id == rid


def test_experiment_and_run_management(tracking_uri: str) -> None:
    client = MlflowClient()
    exp = client.create_experiment("manage-a", tags={"owner": "ann"})
    client.create_experiment("manage-b")
    client.set_experiment_tag(exp, "stage", "dev")
    client.rename_experiment(exp, "manage-renamed")
    got = client.get_experiment(exp)
    assert got.name == "manage-renamed" and got.tags == {"owner": "ann", "stage": "dev"}
    assert got.artifact_location == f"mlflow-artifacts:/{exp}"
    found = client.search_experiments(filter_string="name LIKE 'manage-%' and tags.owner = 'ann'")
    assert [e.experiment_id for e in found] == [exp]
    rid = client.create_run(exp, run_name="r", tags={"k": "v"}).info.run_id
    client.delete_tag(rid, "k")
    client.update_run(rid, status="KILLED", name="renamed-run")
    run = client.get_run(rid)
    assert "k" not in run.data.tags and run.info.status == "KILLED"
    assert run.info.run_name == "renamed-run"
    client.delete_experiment(exp)
    assert client.get_experiment(exp).lifecycle_stage == "deleted"
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert [e.name for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)] == \
        ["manage-renamed"]
    client.restore_experiment(exp)
    assert [r.info.run_id for r in client.search_runs([exp])] == [rid]


def test_datasets_logged_as_inputs(tracking_uri: str) -> None:
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas

    mlflow.set_experiment("datasets")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    dataset = from_pandas(frame, name="tiny", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")
    run_inputs = MlflowClient().get_run(run.info.run_id).inputs
    assert run_inputs is not None
    inputs = run_inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name == "tiny"
    assert inputs[0].dataset.digest == dataset.digest
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}
