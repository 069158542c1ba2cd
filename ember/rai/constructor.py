"""``python -m ember.rai.constructor``: Ember's ``rai_tabular_insight_constructor``.

Reads the MLflow model (``model_input``, sklearn flavor) and the train and test MLTables, checks
them against the settings (target, categorical columns, classes, the test set's row limit),
predicts the test set once, and writes the insights folder every other RAI component reads
(:mod:`ember.rai._data`). The model's test metrics are logged to the step's MLflow run.

The model is one of ``model_input`` (an ``mlflow_model`` input: ``azureml:<name>:<version>`` or a
training step's output, which Ember materialises as a folder), ``model_info_path`` (a folder
holding ``model_info.json``, ``{"id": "<name>:<version>"}``, as Azure's training examples write)
or ``model_info`` (``<name>:<version>``). A registered model's id is fetched from the workspace's
model registry through MLflow (``models:/<name>/<version>``), with the job's tracking URI.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError, UnsupportedError
from ember.rai import _params as P
from ember.rai._data import first_line, read_json, read_table, write_insights
from ember.rai._deps import require
from ember.rai._metrics import compute, metric_names
from ember.rai._mlflow import log_metrics

TASKS = ("classification", "regression", "forecasting")
FEATURE_METADATA_KEYS = ("categorical_features", "identity_feature_name", "dropped_features")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.constructor", description=__doc__)
    p.add_argument("--title", required=True)
    p.add_argument("--task_type", required=True)
    p.add_argument("--model_input")
    p.add_argument("--model_info_path")
    p.add_argument("--model_info")
    p.add_argument("--train_dataset", required=True)
    p.add_argument("--test_dataset", required=True)
    p.add_argument("--target_column_name", required=True)
    p.add_argument("--maximum_rows_for_test_dataset", type=int, default=5000)
    p.add_argument("--categorical_column_names", default="[]")
    p.add_argument("--classes", default="[]")
    p.add_argument("--feature_metadata", default="{}")
    p.add_argument("--use_model_dependency", default="False")
    p.add_argument("--rai_insights_dashboard", required=True)
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.task_type not in TASKS:
        raise InvalidInputError(f"task_type: {args.task_type!r} is not one of {', '.join(TASKS)}")
    if args.task_type == "forecasting":
        raise UnsupportedError("task_type forecasting: Ember's Responsible AI components analyse "
                               "classification and regression models")
    categorical = P.string_list(args.categorical_column_names, "categorical_column_names")
    classes = P.json_param(args.classes, "classes", list, [])
    metadata = P.json_param(args.feature_metadata, "feature_metadata", dict, {})
    P.bool_param(args.use_model_dependency, "use_model_dependency")
    if args.maximum_rows_for_test_dataset < 1:
        raise InvalidInputError("maximum_rows_for_test_dataset: must be at least 1")
    unknown = sorted(set(metadata) - set(FEATURE_METADATA_KEYS))
    if unknown:
        raise InvalidInputError(f"feature_metadata: unknown key(s) {', '.join(unknown)} "
                                f"(Ember reads {', '.join(FEATURE_METADATA_KEYS)})")

    from ember.rai._data import load_sklearn_model

    model_folder, model_from = _model_folder(args, Path(args.rai_insights_dashboard))
    model = load_sklearn_model(model_folder, model_from)
    train = read_table(Path(args.train_dataset), "train_dataset")
    test = read_table(Path(args.test_dataset), "test_dataset")
    target = args.target_column_name
    for frame, what in ((train, "train_dataset"), (test, "test_dataset")):
        P.check_columns([target], list(frame.columns), f"target_column_name ({what})")
    if len(test) > args.maximum_rows_for_test_dataset:
        raise InvalidInputError(f"test_dataset: {len(test)} rows, more than "
                                f"maximum_rows_for_test_dataset ({args.maximum_rows_for_test_dataset})")
    dropped = P.string_list(_list_json(metadata.get("dropped_features")),
                            "feature_metadata.dropped_features")
    identity = metadata.get("identity_feature_name")
    excluded = [target, *dropped, *([identity] if identity else [])]
    P.check_columns([c for c in excluded if c != target], list(train.columns),
                    "feature_metadata")
    features = [c for c in train.columns if c not in excluded]
    missing = [c for c in features if c not in test.columns]
    if missing:
        raise InvalidInputError(f"test_dataset: no column {', '.join(map(repr, missing))} "
                                "(the training data has it)")
    categorical = list(dict.fromkeys(categorical + P.string_list(
        _list_json(metadata.get("categorical_features")), "feature_metadata.categorical_features")))
    P.check_columns(categorical, features, "categorical_column_names")
    # a text column must be categorical: the analyses treat the others as numbers
    for column in features:
        if column not in categorical and not _numeric(train[column]):
            raise InvalidInputError(f"categorical_column_names: column {column!r} holds text; "
                                    "name it among the categorical columns")

    classification = args.task_type == "classification"
    y_train = train[target]
    labels: list[Any] = []
    if classification:
        labels = [v.item() if hasattr(v, "item") else v
                  for v in getattr(model, "classes_", sorted(y_train.unique()))]
        if classes and len(classes) != len(labels):
            raise InvalidInputError(f"classes: {len(classes)} name(s) given for the model's "
                                    f"{len(labels)} classes ({', '.join(map(str, labels))})")
    elif classes:
        raise InvalidInputError("classes: only for task_type classification")
    predictions = _predict(model, test[features], labels)
    metrics = compute(metric_names(classification), test[target], predictions["predicted"],
                      labels)
    config = {
        "id": uuid.uuid4().hex, "title": args.title, "task_type": args.task_type,
        "target_column_name": target, "features": features, "categorical_features": categorical,
        "labels": labels, "classes": [str(c) for c in classes] or [str(v) for v in labels],
        "feature_metadata": metadata, "train_rows": len(train), "test_rows": len(test),
        "model": {"input": model_from, "reference": str(getattr(args, model_from))},
        "metrics": metrics,
    }
    write_insights(Path(args.rai_insights_dashboard), config, train, test, predictions,
                   model_folder)
    log_metrics({k: v for k, v in metrics.items() if v is not None})
    P.say(f"{args.title}: {len(features)} features, {len(train)} training and {len(test)} "
          f"test rows; " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if v is not None))
    return config


def _model_folder(args: argparse.Namespace, out: Path) -> tuple[Path, str]:
    """The MLflow model's folder, and the input that named it."""
    given = [n for n in ("model_input", "model_info_path", "model_info") if getattr(args, n)]
    if len(given) != 1:
        raise InvalidInputError("give one of model_input, model_info_path and model_info"
                                + (f", not {' and '.join(given)}" if given else ""))
    if given[0] == "model_input":
        return Path(args.model_input), "model_input"
    if given[0] == "model_info_path":
        path = Path(args.model_info_path)
        spec = path / "model_info.json" if path.is_dir() else path
        model_id = read_json(spec, "model_info_path").get("id") if spec.is_file() else None
        if not isinstance(model_id, str):
            raise InvalidInputError(f"model_info_path: {spec} must hold {{\"id\": "
                                    "\"<name>:<version>\"}")
        return fetch_registered_model(model_id, "model_info_path", out), "model_info_path"
    return fetch_registered_model(args.model_info, "model_info", out), "model_info"


def fetch_registered_model(model_id: str, what: str, out: Path) -> Path:
    """The workspace's registered model ``<name>:<version>``, downloaded through MLflow into
    ``out/model`` (where the insights folder keeps its model)."""
    name, _, version = model_id.rpartition(":")
    if not name or not version.isdigit():
        raise InvalidInputError(f"{what}: {model_id!r} is not a registered model id "
                                "(<name>:<version>)")
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise InvalidInputError(f"{what}: fetching registered model {model_id!r} needs the "
                                "job's MLflow tracking URI (MLFLOW_TRACKING_URI); run the "
                                "component as a pipeline step, or give model_input")
    artifacts = require("mlflow.artifacts")
    target = out / "model"
    target.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        folder = artifacts.download_artifacts(f"models:/{name}/{version}",
                                              dst_path=str(target))
    except Exception as exc:   # noqa: BLE001 - MLflow raises many kinds; one line for the user
        raise InvalidInputError(f"{what}: cannot fetch registered model {model_id!r}: "
                                f"{first_line(exc)}") from None
    return Path(folder)


def _predict(model: Any, x: Any, labels: list[Any]) -> Any:
    pd = require("pandas")
    try:
        predicted = model.predict(x)
        frame = pd.DataFrame({"predicted": predicted})
        if labels and hasattr(model, "predict_proba"):
            proba = model.predict_proba(x)
            for i in range(proba.shape[1]):
                frame[f"proba_{i}"] = proba[:, i]
    except Exception as exc:   # noqa: BLE001 - the user's model; one line naming it
        raise InvalidInputError(f"model_input: the model cannot predict the test data: "
                                f"{first_line(exc)}") from None
    return frame


def _numeric(column: Any) -> bool:
    from pandas.api import types

    return bool(types.is_numeric_dtype(column) or types.is_bool_dtype(column))


def _list_json(value: Any) -> str:
    import json

    return json.dumps(value if value is not None else [])


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
