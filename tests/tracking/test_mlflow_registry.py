"""The MLflow Model Registry through Ember, with the unmodified ``mlflow`` client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from sklearn.linear_model import LogisticRegression

from tests.conftest import ServerProc
from tests.tracking.conftest import create_workspace

X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
Y = np.array([0, 1, 1, 0])


def log_sklearn(registered_model_name: str | None = None) -> mlflow.models.model.ModelInfo:
    with mlflow.start_run():
        # Pinned requirements skip the client's slow dependency inference.
        return mlflow.sklearn.log_model(LogisticRegression().fit(X, Y), name="model",
                                        pip_requirements=["scikit-learn"],
                                        registered_model_name=registered_model_name)


def files_run(client: MlflowClient, text: str = "weights") -> str:
    """A run holding ``files/weights.txt``: a cheap version source (no MLmodel file)."""
    exp = client.get_experiment_by_name("registry-files")
    exp_id = exp.experiment_id if exp else client.create_experiment("registry-files")
    rid = client.create_run(exp_id).info.run_id
    client.log_text(rid, text, "files/weights.txt")
    return rid


def new_versions(client: MlflowClient, name: str, count: int, **tags: str) -> list[str]:
    client.create_registered_model(name, tags=tags or None)
    rid = files_run(client)
    return [client.create_model_version(name, f"runs:/{rid}/files", run_id=rid).version
            for _ in range(count)]


def error_code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return exc.value.error_code


def test_log_model_registers_versions_that_load_back(tracking_uri: str) -> None:
    mlflow.set_experiment("registry")
    first = log_sklearn("churn")
    second = log_sklearn("churn")
    assert (first.registered_model_version, second.registered_model_version) == ("1", "2")
    client = MlflowClient()
    v1 = client.get_model_version("churn", "1")
    assert v1.source == f"models:/{first.model_id}" and v1.status == "READY"
    assert v1.run_id == first.run_id and v1.current_stage == "None"
    uri = client.get_model_version_download_uri("churn", "1")
    assert uri.startswith("mlflow-artifacts:/") and uri.endswith(f"{first.model_id}/artifacts")
    # The client records the registration on the logged model.
    assert "churn" in client.get_logged_model(first.model_id).tags["mlflow.modelVersions"]

    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "challenger", "2")
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    got = client.get_registered_model("churn")
    assert got.aliases == {"champion": "1", "challenger": "2"}
    assert [v.version for v in got.latest_versions] == ["2"]
    assert client.get_model_version("churn", "2").aliases == ["challenger"]
    for model_uri in ("models:/churn/1", "models:/churn@champion", "models:/churn/latest"):
        loaded = mlflow.pyfunc.load_model(model_uri)
        assert list(loaded.predict(X)) == list(Y)

    client.set_registered_model_alias("churn", "champion", "2")    # moves the alias
    assert client.get_model_version("churn", "1").aliases == []
    client.delete_registered_model_alias("churn", "champion")
    client.delete_registered_model_alias("churn", "champion")      # not set: no error
    with pytest.raises(MlflowException) as missing:
        client.get_model_version_by_alias("churn", "champion")
    assert error_code(missing) == "RESOURCE_DOES_NOT_EXIST"

    # register_model from the run: MLflow 3 resolves runs:/<run>/model to the logged model.
    third = mlflow.register_model(f"runs:/{second.run_id}/model", "churn")
    assert third.version == "3" and third.source == f"models:/{second.model_id}"


def test_tags_and_descriptions(tracking_uri: str) -> None:
    client = MlflowClient()
    rm = client.create_registered_model("tagged", tags={"team": "risk"}, description="first")
    assert rm.tags == {"team": "risk"} and rm.description == "first"
    client.set_registered_model_tag("tagged", "stage", "beta")
    client.set_registered_model_tag("tagged", "team", "growth")
    client.delete_registered_model_tag("tagged", "stage")
    client.delete_registered_model_tag("tagged", "never-set")
    assert client.get_registered_model("tagged").tags == {"team": "growth"}
    updated = client.update_registered_model("tagged", description="second")
    assert updated.description == "second"

    rid = files_run(client)
    mv = client.create_model_version("tagged", f"runs:/{rid}/files", run_id=rid,
                                     tags={"data": "v1"}, description="baseline")
    assert (mv.version, mv.tags, mv.description) == ("1", {"data": "v1"}, "baseline")
    client.set_model_version_tag("tagged", "1", "quality", "good")
    client.delete_model_version_tag("tagged", "1", "data")
    client.update_model_version("tagged", "1", description="tuned")
    got = client.get_model_version("tagged", "1")
    assert got.tags == {"quality": "good"} and got.description == "tuned"
    assert (got.last_updated_timestamp or 0) >= (got.creation_timestamp or 0) > 0
    # A folder without an MLmodel file is registered too, and downloads as it was logged.
    local = Path(mlflow.artifacts.download_artifacts("models:/tagged/1"))
    assert (local / "weights.txt").read_text() == "weights"
    # The source the client sends for run artifacts in MLflow 2 style: the run's own URI.
    source = f"{client.get_run(rid).info.artifact_uri}/files"
    assert source.startswith("mlflow-artifacts:/")
    second = client.create_model_version("tagged", source)
    assert second.version == "2" and second.source == source
    assert client.get_model_version_download_uri("tagged", "2") == source


def test_search_registered_models(tracking_uri: str) -> None:
    client = MlflowClient()
    for name, team in (("srch-a", "x"), ("srch-b", "y"), ("srch-c", "x"), ("other-d", "x")):
        client.create_registered_model(name, tags={"team": team})

    def names(filter_string: str | None = None, **kw: Any) -> list[str]:
        return [m.name for m in client.search_registered_models(filter_string, **kw)]

    assert names("name = 'srch-b'") == ["srch-b"]
    assert names("name LIKE 'srch-%'") == ["srch-a", "srch-b", "srch-c"]
    assert names("name ILIKE 'SRCH-_'") == ["srch-a", "srch-b", "srch-c"]
    assert names("name LIKE 'SRCH-%'") == []
    assert names("tags.team = 'x' AND name LIKE '%-%'") == ["other-d", "srch-a", "srch-c"]
    assert names("name LIKE 'srch%'", order_by=["name DESC"]) == ["srch-c", "srch-b", "srch-a"]
    first = client.search_registered_models("name LIKE 'srch%'", max_results=2)
    assert [m.name for m in first] == ["srch-a", "srch-b"] and first.token
    rest = client.search_registered_models("name LIKE 'srch%'", max_results=2,
                                           page_token=first.token)
    assert [m.name for m in rest] == ["srch-c"] and not rest.token


def test_search_model_versions(tracking_uri: str) -> None:
    client = MlflowClient()
    assert new_versions(client, "mv-search", 3) == ["1", "2", "3"]
    rid = files_run(client, "other")
    client.create_model_version("mv-search", f"runs:/{rid}/files", run_id=rid)

    def versions(filter_string: str, **kw: Any) -> list[str]:
        return [m.version for m in client.search_model_versions(filter_string, **kw)]

    # Default order: the newest change first.
    assert versions("name = 'mv-search'") == ["4", "3", "2", "1"]
    assert versions("name = 'mv-search' AND version_number >= 3",
                    order_by=["version_number ASC"]) == ["3", "4"]
    assert versions(f"run_id = '{rid}'") == ["4"]
    assert versions(f"run_id IN ('{rid}', 'nope') AND name LIKE 'mv-%'") == ["4"]
    assert versions(f"source_path = 'runs:/{rid}/files'") == ["4"]
    client.set_model_version_tag("mv-search", "2", "checked", "yes")
    assert versions("tags.checked = 'yes'") == ["2"]
    page = client.search_model_versions("name = 'mv-search'", max_results=3,
                                        order_by=["version_number DESC"])
    assert [m.version for m in page] == ["4", "3", "2"] and page.token
    rest = client.search_model_versions("name = 'mv-search'", max_results=3,
                                        order_by=["version_number DESC"], page_token=page.token)
    assert [m.version for m in rest] == ["1"] and not rest.token


def test_rename_and_delete(tracking_uri: str) -> None:
    client = MlflowClient()
    new_versions(client, "before", 2)
    client.set_registered_model_alias("before", "prod", "2")
    client.create_registered_model("taken")
    with pytest.raises(MlflowException) as taken:
        client.rename_registered_model("before", "taken")
    assert error_code(taken) == "RESOURCE_ALREADY_EXISTS"
    client.rename_registered_model("before", "after")   # the client returns nothing
    renamed = client.get_registered_model("after")
    assert renamed.aliases == {"prod": "2"}
    assert [v.version for v in renamed.latest_versions] == ["2"]
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model("before")
    assert error_code(gone) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version("after", "2").aliases == ["prod"]
    client.delete_model_version("after", "2")
    with pytest.raises(MlflowException) as deleted:
        client.get_model_version("after", "2")
    assert error_code(deleted) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model("after").aliases == {}
    client.delete_registered_model("after")
    with pytest.raises(MlflowException) as deleted_model:
        client.get_model_version("after", "1")
    assert error_code(deleted_model) == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models("name = 'after'") == []


def test_stage_transitions_and_latest_versions(tracking_uri: str) -> None:
    client = MlflowClient()
    new_versions(client, "staged", 3)
    client.transition_model_version_stage("staged", "1", "Production")
    moved = client.transition_model_version_stage("staged", "2", "staging")
    assert moved.current_stage == "Staging"
    assert [v.version for v in client.get_latest_versions("staged", ["Production"])] == ["1"]
    client.transition_model_version_stage("staged", "3", "production",
                                          archive_existing_versions=True)
    assert client.get_model_version("staged", "1").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in client.get_latest_versions("staged")}
    assert latest == {"Staging": "2", "Production": "3", "Archived": "1"}
    assert {v.version for v in client.get_registered_model("staged").latest_versions} == \
        {"1", "2", "3"}
    local = Path(mlflow.artifacts.download_artifacts("models:/staged/Production"))
    assert (local / "weights.txt").read_text() == "weights"
    with pytest.raises(MlflowException) as bad_stage:
        client.transition_model_version_stage("staged", "1", "Retired")
    assert error_code(bad_stage) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_archive:
        client.transition_model_version_stage("staged", "1", "None",
                                              archive_existing_versions=True)
    assert error_code(bad_archive) == "INVALID_PARAMETER_VALUE"


def test_protocol_errors(tracking_uri: str) -> None:
    client = MlflowClient()
    client.create_registered_model("dup")
    with pytest.raises(RestException) as dup:
        client.create_registered_model("dup")
    assert error_code(dup) == "RESOURCE_ALREADY_EXISTS"
    for call in (lambda: client.get_registered_model("no-such-model"),
                 lambda: client.get_model_version("dup", "7"),
                 lambda: client.get_latest_versions("no-such-model"),
                 lambda: client.delete_registered_model("no-such-model")):
        with pytest.raises(MlflowException) as missing:
            call()
        assert error_code(missing) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_model:
        client.create_model_version("no-such-model", "runs:/abc/files")
    assert error_code(no_model) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as bad_filter:
        client.search_registered_models("metrics.acc > 1")
    assert error_code(bad_filter) == "INVALID_PARAMETER_VALUE"
    assert "metrics.acc" in bad_filter.value.message
    with pytest.raises(MlflowException) as bad_op:
        client.search_model_versions("source_path IN ('a')")
    assert error_code(bad_op) == "INVALID_PARAMETER_VALUE" and "source_path" in str(bad_op.value)
    with pytest.raises(MlflowException) as bad_order:
        client.search_model_versions("name = 'dup'", order_by=["run_id ASC"])
    assert error_code(bad_order) == "INVALID_PARAMETER_VALUE"
    rid = files_run(client)
    client.create_model_version("dup", f"runs:/{rid}/files")
    for alias in ("latest", "v1", "bad alias"):
        with pytest.raises(MlflowException) as bad_alias:
            client.set_registered_model_alias("dup", alias, "1")
        assert error_code(bad_alias) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_source:
        client.create_model_version("dup", f"runs:/{rid}/nothing-here")
    assert error_code(bad_source) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_name:
        client.rename_registered_model("dup", "a/b")
    assert error_code(bad_name) == "INVALID_PARAMETER_VALUE"


def test_delete_arguments_may_come_in_the_query_string(tracking_uri: str,
                                                       tracking_server: ServerProc) -> None:
    client = MlflowClient()
    client.create_registered_model("by-query", tags={"k": "v"})
    base = f"{tracking_uri}/api/2.0/mlflow/registered-models"
    auth = tracking_server.headers
    r = httpx.delete(f"{base}/delete-tag", params={"name": "by-query", "key": "k"}, headers=auth)
    assert r.status_code == 200 and r.json() == {}
    assert client.get_registered_model("by-query").tags == {}
    r = httpx.get(f"{base}/get", params={"name": "by-query"}, headers=auth)
    assert r.json()["registered_model"]["latest_versions"] == []
    r = httpx.get(f"{base}/get", params={"name": "nope"}, headers=auth)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_workspaces_keep_separate_registries(tracking_uri: str,
                                             tracking_server: ServerProc) -> None:
    other_uri = create_workspace(tracking_server, "registry-b")
    mine, theirs = MlflowClient(tracking_uri), MlflowClient(other_uri)
    theirs.create_registered_model("shared-name", description="theirs")
    with pytest.raises(MlflowException) as hidden:
        mine.get_registered_model("shared-name")
    assert error_code(hidden) == "RESOURCE_DOES_NOT_EXIST"
    mine.create_registered_model("shared-name", description="mine")
    assert theirs.get_registered_model("shared-name").description == "theirs"
    assert [m.name for m in theirs.search_registered_models()] == ["shared-name"]
    mlflow.set_tracking_uri(other_uri)   # the registry URI follows the tracking URI
    try:
        mlflow.set_experiment("registry-b")
        info = log_sklearn("shared-name")
        assert info.registered_model_version == "1"
        assert theirs.search_model_versions("name = 'shared-name'")[0].run_id == info.run_id
        assert mine.search_model_versions("name = 'shared-name'") == []
        loaded = mlflow.pyfunc.load_model("models:/shared-name/1")
        assert list(loaded.predict(X)) == list(Y)
    finally:   # later tests in this process expect the default workspace's experiment
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment("registry")
