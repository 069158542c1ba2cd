"""The example's pipeline through Ember, end to end: train, construct, explain, causal,
counterfactual, error analysis, gather, score card, with the built-in components named by
their azureml registry references. The score card's fairness section shows the unfair feature,
and its PDF renders."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from ember.client.mlclient import MLClient
from ember.entities.jobs import JobStatus
from ember.specs.any_job import load_any_job_spec
from tests.conftest import WorkspaceServer, wait_for
from tests.rai.conftest import EXAMPLE, make_data

STEPS = {"train_model", "create_rai_job", "explain_01", "causal_01", "counterfactual_01",
         "error_analysis_01", "gather_01", "scorecard_01"}


def _output_dir(server: WorkspaceServer, path: str) -> Path:
    rel = path.split("/paths/", 1)[1].rstrip("/")
    return (server.home / "artifacts" / "workspaces" / server.workspace / "datastores"
            / "workspaceblobstore" / rel)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler's pdftoppm")
def test_the_example_pipeline_writes_a_dashboard_and_a_score_card(
        server: WorkspaceServer, tmp_path: Path) -> None:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("data", "__pycache__"))
    make_data(folder / "data")
    with MLClient(endpoint=server.url, workspace=server.workspace) as client:
        job = client.jobs.create_or_update(load_any_job_spec(folder / "pipeline.yml", []))
        done = wait_for(lambda: (j := client.jobs.get(job.name)).status in JobStatus.TERMINAL
                        and j, timeout=240, interval=0.5)
        steps = {c.step_name or c.name: c for c in client.jobs.list(parent_job_name=job.name)}
        assert done.status == "Completed", {n: (s.status, s.error) for n, s in steps.items()}
        assert set(steps) == STEPS
        gather = steps["gather_01"]
        card_step = steps["scorecard_01"]

    dashboard = _output_dir(server, gather.outputs["dashboard"].path or "")
    report = (dashboard / "report.html").read_text()
    assert "<script src=" not in report and "Plotly.newPlot" in report   # inlined, offline
    board = json.loads((dashboard / "dashboard.json").read_text())
    assert board["insights"] == ["causal", "counterfactual", "error_analysis", "explanation"]
    assert next(iter(board["explanation"]["global_importance"])) == "sex"
    tracking = MlflowClient(server.tracking_uri)
    logged = tracking.get_run(steps["create_rai_job"].name).data.metrics
    assert logged["accuracy_score"] == pytest.approx(board["metrics"]["accuracy_score"])
    assert "error_analysis_error_rate" in tracking.get_run(
        steps["error_analysis_01"].name).data.metrics

    out = _output_dir(server, card_step.outputs["scorecard"].path or "")
    card = json.loads((out / "scorecard.json").read_text())
    rate = next(r for r in card["fairness"]["results"] if r["metric"] == "selection_rate")
    assert rate["feature"] == "sex" and rate["kind"] == "difference"
    assert rate["by_group"]["Male"] - rate["by_group"]["Female"] == pytest.approx(rate["value"])
    assert rate["value"] > 0.2 and rate["target"] == "<= 0.2" and rate["passed"] is False
    assert {m["metric"]: m["passed"] for m in card["metrics"]}["accuracy_score"] is True
    assert [c["name"] for c in card["cohorts"]] == ["Low credit score", "High income"]

    pdf = out / "scorecard.pdf"
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")],
                   check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    for heading in ("Targets", "Data analysis", "Model performance", "Cohorts",
                    "Top 6 important features", "Fairness", "Causal insights"):
        assert heading in text
    fairness = text[text.index("Fairness"):]
    assert "selection_rate" in fairness and "FAIL" in fairness
