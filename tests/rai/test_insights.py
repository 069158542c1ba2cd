"""The insight components (explanation, error analysis, counterfactual, causal) on the small
constructor output: what each writes, and the inputs each refuses in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ember.rai import causal, counterfactual, erroranalysis, explanation
from tests.rai.conftest import Outputs, fails


def _data(folder: Path) -> dict[str, Any]:
    insight = json.loads((folder / "insight.json").read_text())
    constructor = json.loads((folder.parent / "insights" / "rai_insights.json").read_text())
    assert insight["constructor_id"] == constructor["id"]
    return dict(insight["data"], type=insight["type"], settings=insight["settings"])


def test_explanation_ranks_the_unfair_feature_first(outputs: Outputs) -> None:
    data = _data(outputs.explanation)
    assert data["type"] == "explanation" and data["settings"] == {"comment": "c"}
    assert next(iter(data["global_importance"])) == "sex"
    assert set(data["global_importance"]) == set(data["features"])
    assert data["classes"] == ["denied", "approved"]
    local = data["local_importance"]
    assert (len(local), len(local[0]), len(local[0][0])) == (10, 6, 2)   # rows, features, classes


def test_error_analysis_tree_counts_the_errors(outputs: Outputs) -> None:
    data = _data(outputs.error_analysis)
    root = data["tree"][0]
    assert root["condition"] == "all data" and root["size"] == 10
    leaves = [n for n in data["tree"] if n["leaf"]]
    assert sum(n["size"] for n in leaves) == 10
    assert sum(n["error"] for n in leaves) == root["error"]
    assert data["error_rate"] == root["error_rate"]
    assert all(n["size"] >= 2 for n in leaves)                  # min_child_samples
    assert data["heatmap"]["features"] == ["sex"]
    assert sum(c["size"] for c in data["heatmap"]["cells"]) == 10
    assert data["settings"]["min_child_samples"] == 2


def test_counterfactuals_flip_the_prediction(outputs: Outputs) -> None:
    data = _data(outputs.counterfactual)
    assert data["desired"] == {"desired_class": "opposite"} and len(data["counterfactuals"]) == 10
    insights = outputs.insights
    import pandas as pd

    predicted = pd.read_parquet(insights / "predictions.parquet")["predicted"].tolist()
    for row in data["counterfactuals"]:
        for cf in row["counterfactuals"]:
            assert cf["approved"] == 1 - predicted[row["row"]]
    assert set(data["global_importance"]) <= set(data["features"])


def test_causal_effects_of_the_treatments(outputs: Outputs) -> None:
    data = _data(outputs.causal)
    effects = {e["feature"]: e for e in data["global_effects"]}
    assert set(effects) == {"income", "sex"}
    assert effects["income"]["point"] > 0 and effects["income"]["p_value"] < 0.05
    assert effects["sex"]["feature_value"] == "Male vs Female" and effects["sex"]["point"] > 0.3
    assert {e["row"] for e in data["local_effects"]} == set(range(10))
    assert [p["treatment_feature"] for p in data["policies"]] == ["income", "sex"]


@pytest.mark.parametrize(("main", "args", "message"), [
    (explanation.main, ["--comment", "c"], "is not the output of rai_tabular_insight_constructor"),
    (erroranalysis.main, ["--filter_features", '["town"]'],
     "filter_features: no column 'town' in the data"),
    (erroranalysis.main, ["--filter_features", "[sex]"], "filter_features: not valid JSON"),
    (erroranalysis.main, ["--filter_features", '["sex", "age", "income"]'],
     "filter_features: one or two features, got 3"),
    (erroranalysis.main, ["--max_depth", "0"], "max_depth: must be at least 1, got 0"),
    (counterfactual.main, ["--method", "gradient"], "method: 'gradient' is not one of random"),
    (counterfactual.main, ["--desired_class", "maybe"],
     "desired_class: 'maybe' is not a class of the model (0, 1)"),
    (counterfactual.main, ["--total_CFs", "5"],
     "total_CFs: feature_importance needs at least 10 counterfactuals per row, got 5"),
    (counterfactual.main, ["--features_to_vary", '["height"]'],
     "features_to_vary: no column 'height' in the data"),
    (counterfactual.main, ["--permitted_range", "{income: [1, 2]}"],
     "permitted_range: not valid JSON"),
    (causal.main, ["--treatment_features", '["wealth"]'],
     "treatment_features: no column 'wealth' in the data"),
    (causal.main, ["--treatment_features", "income"], "treatment_features: not valid JSON"),
    (causal.main, ["--treatment_features", '["income"]', "--nuisance_model", "automl"],
     "nuisance_model: 'automl' needs FLAML"),
    (causal.main, ["--treatment_features", '["income"]', "--treatment_cost", "[1, 2]"],
     "treatment_cost: one cost per treatment feature (1), got 2"),
])
def test_insights_refuse_bad_inputs(outputs: Outputs, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str], main: Any,
                                    args: list[str], message: str) -> None:
    board = tmp_path if main is explanation.main else outputs.insights
    out = {explanation.main: "--explanation", erroranalysis.main: "--error_analysis",
           counterfactual.main: "--counterfactual", causal.main: "--causal"}[main]
    err = fails(main, ["--rai_insights_dashboard", str(board), *args, out,
                       str(tmp_path / "out")], capsys)
    assert message in err
