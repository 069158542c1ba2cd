"""MLflow 3 models through Ember: ``log_model`` (logged models), loading back, autolog."""

from __future__ import annotations

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
Y = np.array([0, 1, 1, 0])


def test_sklearn_log_model_and_load_it_back(tracking_uri: str) -> None:
    mlflow.set_experiment("models")
    model = LogisticRegression().fit(X, Y)
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 1.0)
        # Pinned requirements skip the client's slow dependency inference.
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                        pip_requirements=["scikit-learn"])
    assert info.model_uri == f"models:/{info.model_id}"
    client = MlflowClient()
    logged = client.get_logged_model(info.model_id)
    assert logged.status.to_proto() == 2  # LOGGED_MODEL_READY
    assert logged.source_run_id == run.info.run_id
    assert logged.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    assert [m.key for m in logged.metrics or []] == ["acc"]
    outputs = client.get_run(run.info.run_id).outputs
    assert outputs is not None and [o.model_id for o in outputs.model_outputs] == [info.model_id]
    assert len(client.get_metric_history(run.info.run_id, "acc")) == 1
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert list(loaded.predict(X)) == list(model.predict(X))


def test_sklearn_autolog(tracking_uri: str) -> None:
    mlflow.set_experiment("autolog")
    mlflow.autolog()
    try:
        with mlflow.start_run() as run:
            LogisticRegression(C=0.5).fit(X, Y)
    finally:
        mlflow.autolog(disable=True)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params["C"] == "0.5"
    assert got.data.metrics["training_accuracy_score"] == 1.0
    assert got.data.tags["estimator_name"] == "LogisticRegression"
    assert got.inputs is not None and got.inputs.dataset_inputs
    assert got.outputs is not None and got.outputs.model_outputs
    model_id = got.outputs.model_outputs[0].model_id
    loaded = mlflow.pyfunc.load_model(f"models:/{model_id}")
    assert list(loaded.predict(X)) == list(Y)
