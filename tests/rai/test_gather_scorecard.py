"""rai_tabular_insight_gather and rai_tabular_score_card on the small constructor output: the
dashboard, the offline report, the score card's numbers and PDF, and the refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ember.rai import gather, scorecard
from tests.rai.conftest import EXAMPLE, Outputs, fails


@pytest.fixture(scope="module")
def dashboard(outputs: Outputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dashboard")
    assert gather.main(["--constructor", str(outputs.insights),
                        "--insight_1", str(outputs.causal),
                        "--insight_2", str(outputs.explanation),
                        "--insight_3", str(outputs.error_analysis),
                        "--insight_4", str(outputs.counterfactual),
                        "--dashboard", str(root / "dashboard"),
                        "--ux_json", str(root / "ux")]) == 0
    return root / "dashboard"


def test_gather_writes_the_dashboard_and_an_offline_report(dashboard: Path) -> None:
    board = json.loads((dashboard / "dashboard.json").read_text())
    assert board == json.loads((dashboard.parent / "ux" / "ux.json").read_text())
    assert board["insights"] == ["causal", "counterfactual", "error_analysis", "explanation"]
    assert board["title"] == "Loan approval" and board["test_rows"] == 10
    sexes = board["data_summary"]["sex"]["groups"]
    assert sum(g["count"] for g in sexes.values()) == 10
    report = (dashboard / "report.html").read_text()
    assert "<script src=" not in report      # plotly.js inlined: the page opens offline
    assert report.count("Plotly.newPlot") >= 5
    for heading in ("Feature importance", "Error analysis", "Counterfactuals",
                    "Causal analysis", "Data explorer"):
        assert f"<h2>{heading}</h2>" in report


def test_gather_refuses_mismatched_insights(outputs: Outputs, built_other: Path,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--dashboard", str(tmp_path / "d"), "--ux_json", str(tmp_path / "u")]
    assert fails(gather.main, ["--constructor", str(outputs.insights), *out], capsys) == \
        "error: insight_1..insight_4: give at least one insight"
    err = fails(gather.main, ["--constructor", str(built_other), "--insight_1",
                              str(outputs.causal), *out], capsys)
    assert err == ("error: insight_1: this causal was computed from another "
                   "rai_tabular_insight_constructor output than 'constructor'")
    err = fails(gather.main, ["--constructor", str(outputs.insights), "--insight_1",
                              str(outputs.causal), "--insight_2", str(outputs.causal), *out],
                capsys)
    assert err == "error: insight_2: a second causal insight; give each kind once"
    err = fails(gather.main, ["--constructor", str(outputs.insights), "--insight_1",
                              str(tmp_path), *out], capsys)
    assert "insight_1: " in err and "no insight.json" in err


@pytest.fixture
def built_other(outputs: Outputs, tmp_path: Path) -> Path:
    """A copy of the constructor output with another id (another constructor run)."""
    other = tmp_path / "other"
    shutil.copytree(outputs.insights, other)
    config = json.loads((other / "rai_insights.json").read_text())
    (other / "rai_insights.json").write_text(json.dumps({**config, "id": "another"}))
    return other


def _card(dashboard: Path, tmp_path: Path, config: dict[str, Any] | None = None,
          cohorts: bool = True) -> list[str]:
    spec = tmp_path / "pdf_gen.json"
    spec.write_text(json.dumps(config) if config is not None
                    else (EXAMPLE / "pdf_gen.json").read_text())
    args = ["--dashboard", str(dashboard), "--pdf_generation_config", str(spec),
            "--scorecard", str(tmp_path / "card")]
    return args + (["--predefined_cohorts_json", str(EXAMPLE / "cohorts.json")]
                   if cohorts else [])


def test_score_card_numbers_and_pdf(dashboard: Path, tmp_path: Path) -> None:
    assert scorecard.main(_card(dashboard, tmp_path)) == 0
    card = json.loads((tmp_path / "card" / "scorecard.json").read_text())
    assert card["model"]["name"] == "Loan approval"
    assert [m["metric"] for m in card["metrics"]] == ["accuracy_score", "precision_score",
                                                       "recall_score", "f1_score"]
    accuracy = card["metrics"][0]
    assert accuracy["target"] == ">= 0.8" and accuracy["passed"] == (accuracy["value"] >= 0.8)
    assert card["metrics"][2]["target"] is None and card["metrics"][2]["passed"] is None
    assert len(card["feature_importance"]) == 6
    assert [e["feature"] for e in card["data_explorer"]] == ["income", "sex"]
    assert sum(r["count"] for r in card["data_explorer"][1]["rows"]) == 10
    fair = {r["metric"]: r for r in card["fairness"]["results"]}
    rate = fair["selection_rate"]
    assert sum(rate["counts"].values()) == 10
    assert rate["value"] == pytest.approx(max(rate["by_group"].values())
                                          - min(rate["by_group"].values()))
    assert rate["passed"] == (rate["value"] <= 0.2)
    assert [c["name"] for c in card["cohorts"]] == ["Low credit score", "High income"]
    assert card["cohorts"][0]["filter"] == "credit_score less 600"
    assert card["error_cohorts"] and card["causal"]
    pdf = (tmp_path / "card" / "scorecard.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(tmp_path / "card" / "scorecard.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert "Fairness" in text and "selection_rate" in text


def test_score_card_ratio_and_a_regression_metric_refused(dashboard: Path,
                                                          tmp_path: Path) -> None:
    config = {"Metrics": {"error_rate": {"threshold": "<0.5"}},
              "Fairness": {"metric": "selection_rate", "sensitive_features": ["sex", "region"],
                           "fairness_evaluation_kind": "ratio", "threshold": ">=0.8"}}
    assert scorecard.main(_card(dashboard, tmp_path, config, cohorts=False)) == 0
    card = json.loads((tmp_path / "card" / "scorecard.json").read_text())
    results = card["fairness"]["results"]
    assert [r["feature"] for r in results] == ["sex", "region"]
    for r in results:
        values = [v for v in r["by_group"].values()]
        assert r["value"] == pytest.approx(min(values) / max(values))


@pytest.mark.parametrize(("config", "message"), [
    ({"Metrics": {"accuracy_score": {"threshold": "=>0.8"}}},
     "pdf_generation_config.Metrics.accuracy_score: threshold '=>0.8' is not one of"),
    ({"Metrics": {"r2_score": {}}},
     "pdf_generation_config.Metrics: unknown classification metric 'r2_score'"),
    ({"FeatureImportance": {"top_n": 11}},
     "pdf_generation_config.FeatureImportance.top_n: a whole number from 1 to 10, got 11"),
    ({"DataExplorer": {"features": ["height"]}},
     "pdf_generation_config.DataExplorer.features: no column 'height' in the data"),
    ({"Fairness": {"metric": ["selection_rate"], "sensitive_features": ["gender"]}},
     "pdf_generation_config.Fairness.sensitive_features: no column 'gender'"),
    ({"Fairness": {"metric": ["selection_rate"], "sensitive_features": ["sex"],
                   "fairness_evaluation_kind": "gap"}},
     "fairness_evaluation_kind: 'gap' is not one of difference, ratio"),
    ({"Cohorts": ["Seniors"]},
     ("pdf_generation_config.Cohorts: no cohort 'Seniors' in predefined_cohorts_json "
      "(it has: Low credit score, High income)")),
    ({"Modle": {}}, "pdf_generation_config: unknown section(s) Modle"),
    ({"Cohorts": "Seniors"}, "pdf_generation_config.Cohorts: expected a JSON list"),
])
def test_score_card_refuses_bad_configs(dashboard: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        config: dict[str, Any], message: str) -> None:
    assert message in fails(scorecard.main, _card(dashboard, tmp_path, config), capsys)


def test_score_card_refuses_a_config_that_is_not_json(dashboard: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    args = _card(dashboard, tmp_path, {})
    (tmp_path / "pdf_gen.json").write_text("{'Model': 1}")
    assert "pdf_generation_config: cannot read pdf_gen.json" in fails(scorecard.main, args,
                                                                      capsys)
    assert "is not the output of rai_tabular_insight_gather" in fails(
        scorecard.main, _card(tmp_path, tmp_path, {}), capsys)
    bad = tmp_path / "cohorts.json"
    bad.write_text('[{"name": "x", "cohort_filter_list": [{"method": "near", "arg": [1], '
                   '"column": "age"}]}]')
    args = _card(dashboard, tmp_path, {"Cohorts": ["x"]}, cohorts=False)
    assert "predefined_cohorts_json[0].cohort_filter_list[0]: method must be one of" in fails(
        scorecard.main, [*args, "--predefined_cohorts_json", str(bad)], capsys)
