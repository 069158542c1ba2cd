"""A regression model through the components: its metrics, the error tree on absolute errors,
DiCE's desired_range, and the score card's regression metrics and fairness ratio."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.sklearn
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from ember.rai import (
    constructor,
    counterfactual,
    erroranalysis,
    explanation,
    gather,
    scorecard,
)
from tests.rai.conftest import Built, fails


@pytest.fixture(scope="module")
def regression(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The constructor's output for a ridge regression of income (the label column dropped)."""
    root = tmp_path_factory.mktemp("regression")
    data = pd.read_csv(built.data / "train" / "data.csv").drop(columns=["approved"])
    x, y = data.drop(columns=["income"]), data["income"]
    model = Pipeline([("encode", ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "region"])],
        remainder="passthrough")), ("ridge", Ridge())]).fit(x, y)
    mlflow.sklearn.save_model(model, str(root / "model"))
    out = root / "insights"
    assert constructor.main([
        "--title", "Income", "--task_type", "regression", "--model_input", str(root / "model"),
        "--train_dataset", str(built.data / "train"), "--test_dataset", str(built.data / "test"),
        "--target_column_name", "income", "--categorical_column_names", '["sex", "region"]',
        "--feature_metadata", '{"dropped_features": ["approved"]}',
        "--rai_insights_dashboard", str(out)]) == 0
    return out


def test_regression_insights_and_score_card(regression: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((regression / "rai_insights.json").read_text())
    assert "approved" not in config["features"] and config["labels"] == []
    assert set(config["metrics"]) == {"mean_absolute_error", "mean_squared_error",
                                      "median_absolute_error", "r2_score"}
    board = ["--rai_insights_dashboard", str(regression)]
    assert erroranalysis.main([*board, "--error_analysis", str(tmp_path / "ea")]) == 0
    tree = json.loads((tmp_path / "ea" / "insight.json").read_text())["data"]
    assert tree["metric"] == "mean_absolute_error"
    assert tree["error_rate"] == pytest.approx(config["metrics"]["mean_absolute_error"])
    assert explanation.main([*board, "--comment", "", "--explanation",
                             str(tmp_path / "ex")]) == 0
    assert "desired_range: expected a JSON list" in fails(
        counterfactual.main, [*board, "--desired_range", '{"low": 1}', "--counterfactual",
                              str(tmp_path / "cf")], capsys)
    assert "desired_class: for classification; give desired_range" in fails(
        counterfactual.main, [*board, "--desired_class", "opposite", "--counterfactual",
                              str(tmp_path / "cf")], capsys)
    assert gather.main(["--constructor", str(regression), "--insight_1", str(tmp_path / "ea"),
                        "--insight_2", str(tmp_path / "ex"), "--dashboard",
                        str(tmp_path / "d"), "--ux_json", str(tmp_path / "u")]) == 0
    spec = tmp_path / "pdf.json"
    spec.write_text(json.dumps({
        "Model": {"ModelName": "Income", "ModelType": "Regression"},
        "Metrics": {"mean_absolute_error": {"threshold": "<100"}, "r2_score": {}},
        "FeatureImportance": {"top_n": 3}, "DataExplorer": {"features": ["age", "region"]},
        "Fairness": {"metric": ["mean_absolute_error"], "sensitive_features": ["sex"],
                     "fairness_evaluation_kind": "ratio", "threshold": ">=0.5"}}))
    assert scorecard.main(["--dashboard", str(tmp_path / "d"), "--pdf_generation_config",
                           str(spec), "--scorecard", str(tmp_path / "sc")]) == 0
    card = json.loads((tmp_path / "sc" / "scorecard.json").read_text())
    assert card["metrics"][0]["passed"] is True and len(card["feature_importance"]) == 3
    assert card["data_explorer"][1]["rows"][0]["mean_prediction"] is not None
    assert card["fairness"]["results"][0]["kind"] == "ratio"
    spec.write_text(json.dumps({"Fairness": {"metric": ["selection_rate"],
                                             "sensitive_features": ["sex"]}}))
    assert "unknown regression metric 'selection_rate'" in fails(
        scorecard.main, ["--dashboard", str(tmp_path / "d"), "--pdf_generation_config",
                         str(spec), "--scorecard", str(tmp_path / "sc")], capsys)
