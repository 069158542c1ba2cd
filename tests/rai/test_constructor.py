"""rai_tabular_insight_constructor: the insights folder, and the inputs it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ember.rai import constructor
from tests.rai.conftest import Built, construct_args, fails


def test_writes_the_insights_folder(built: Built) -> None:
    config = json.loads((built.insights / "rai_insights.json").read_text())
    assert config["features"] == ["age", "income", "years_employed", "credit_score", "sex",
                                  "region"]
    assert config["categorical_features"] == ["sex", "region"]
    assert config["labels"] == [0, 1] and config["classes"] == ["denied", "approved"]
    assert config["train_rows"] == 240 and config["test_rows"] == 60
    assert config["metrics"]["accuracy_score"] > 0.8
    predictions = pd.read_parquet(built.insights / "predictions.parquet")
    assert list(predictions.columns) == ["predicted", "proba_0", "proba_1"]
    assert len(predictions) == 60
    assert (built.insights / "model" / "MLmodel").is_file()


@pytest.mark.parametrize(("extra", "message"), [
    ({"target_column_name": "approval"},
     "target_column_name (train_dataset): no column 'approval' in the data"),
    ({"categorical_column_names": '["sex", "region"'},
     "categorical_column_names: not valid JSON"),
    ({"categorical_column_names": '{"sex": 1}'},
     "categorical_column_names: expected a JSON list"),
    ({"categorical_column_names": '["sex", "town"]'},
     "categorical_column_names: no column 'town' in the data"),
    ({"categorical_column_names": '["region"]'},
     "categorical_column_names: column 'sex' holds text"),
    ({"classes": '["denied"]'}, "classes: 1 name(s) given for the model's 2 classes"),
    ({"feature_metadata": '{"colour": 1}'}, "feature_metadata: unknown key(s) colour"),
    ({"task_type": "ranking"}, "task_type: 'ranking' is not one of"),
    ({"task_type": "forecasting"}, "task_type forecasting"),
    ({"maximum_rows_for_test_dataset": "10"},
     "test_dataset: 60 rows, more than maximum_rows_for_test_dataset (10)"),
    ({"use_model_dependency": "perhaps"}, "use_model_dependency: expected True or False"),
])
def test_refuses_bad_inputs_naming_them(built: Built, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        extra: dict[str, str], message: str) -> None:
    err = fails(constructor.main, construct_args(built.data, built.model, tmp_path / "o",
                                                 **extra), capsys)
    assert message in err


def test_refuses_a_model_without_the_sklearn_flavor(built: Built, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "pyfunc"
    model.mkdir()
    (model / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n"
                                   "  transformers: {}\n")
    err = fails(constructor.main, construct_args(built.data, model, tmp_path / "o"), capsys)
    assert err == (f"error: model_input: the MLflow model in {model} has flavor(s) "
                   "python_function, transformers; the Responsible AI components need an "
                   "sklearn-flavor model")
    err = fails(constructor.main, construct_args(built.data, tmp_path, tmp_path / "o"), capsys)
    assert err == f"error: model_input: {tmp_path} is not an MLflow model (no MLmodel file)"


def test_refuses_empty_data_and_unusable_model_ids(built: Built, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "MLTable").write_text("paths:\n  - file: ./data.csv\n")
    (empty / "data.csv").write_text("age,income,years_employed,credit_score,sex,region,approved\n")
    args = construct_args(built.data, built.model, tmp_path / "o", test_dataset=str(empty))
    assert fails(constructor.main, args, capsys) == \
        f"error: test_dataset: the data at {empty} has no rows"
    args = construct_args(built.data, built.model, tmp_path / "o")
    at = args.index("--model_input")
    assert fails(constructor.main, [*args, "--model_info", "loans:1"], capsys) == \
        "error: give one of model_input, model_info_path and model_info, not model_input " \
        "and model_info"
    args[at:at + 2] = ["--model_info", "loans"]
    assert fails(constructor.main, args, capsys) == \
        "error: model_info: 'loans' is not a registered model id (<name>:<version>)"
    (tmp_path / "info").mkdir()
    (tmp_path / "info" / "model_info.json").write_text('{"name": "loans"}')
    args[at:at + 2] = ["--model_info_path", str(tmp_path / "info")]
    assert "model_info_path: " in fails(constructor.main, args, capsys)


def test_refuses_test_data_without_a_feature(built: Built, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    test = tmp_path / "test.csv"
    frame = pd.read_csv(built.data / "test" / "data.csv").drop(columns=["region"])
    frame.to_csv(test, index=False)
    args = construct_args(built.data, built.model, tmp_path / "o", test_dataset=str(test))
    assert fails(constructor.main, args, capsys) == \
        "error: test_dataset: no column 'region' (the training data has it)"
