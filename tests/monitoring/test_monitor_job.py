"""The monitor run (``python -m ember.monitoring.job``) on collected payload files and tables
written here: windows, request shapes, joins, breaches, quality on injected nulls and
out-of-range values, language-model signals, and what it writes; values checked against scipy
and sklearn computed directly on the same arrays."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from ember.errors import InvalidInputError
from ember.monitoring import data as D
from ember.monitoring.job import CONFIG_ENV, metrics_of, run

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC).timestamp()


def write_collected(folder: Path, records: list[tuple[float, str, Any]],
                    latency: float | None = None) -> None:
    """Records (epoch seconds, id, data) as the router writes them, in hourly files."""
    for when, rid, data in records:
        moment = dt.datetime.fromtimestamp(when, dt.UTC)
        path = folder / f"{moment:%Y/%m/%d/%H}" / "data.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        rec = {"id": rid, "time": D.iso(when), "endpoint": "e", "deployment": "d", "data": data}
        if latency is not None:
            rec["latency_ms"] = latency
        with open(path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")


def reference_csv(path: Path, rng: np.random.Generator, n: int = 2000) -> dict[str, np.ndarray]:
    age = rng.uniform(20, 60, n)
    age[0], age[1] = 20.0, 60.0
    region = rng.choice(["north", "south", "east", "west"], n)
    label = (age > 40).astype(int)
    with open(path, "w") as fh:
        fh.write("age,region,label\n")
        for a, r, y in zip(age, region, label):
            fh.write(f"{a},{r},{y}\n")
    return {"age": age, "region": region, "label": label}


def drift_config(signals: dict[str, Any]) -> dict[str, Any]:
    return {"monitor": "m", "trigger_time": D.iso(T0), "ml_task": "classification",
            "signals": signals}


def prod(start: float | None = T0 - 3600, end: float | None = T0,
         context: str = "model_inputs", **columns: str) -> dict[str, Any]:
    return {"input": "collected", "collected": True, "context": context, "start": start,
            "end": end, "columns": columns}


REF = {"input": "reference", "collected": False, "context": "training", "start": None,
       "end": None, "columns": {"target_column": "label"}}


def test_drift_over_a_window_matches_scipy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = reference_csv(tmp_path / "ref.csv", rng)
    shifted = rng.uniform(40, 80, 300)
    regions = rng.choice(["north", "south"], 300)
    records = [(T0 - 1800 + i, f"r{i}", {"input_data": {"columns": ["age", "region"],
                                                          "data": [[float(a), str(r)]]}})
               for i, (a, r) in enumerate(zip(shifted, regions))]
    # outside the window: before it, and at its end (the end is excluded)
    records += [(T0 - 7200, "old", {"input_data": {"columns": ["age", "region"],
                                                    "data": [[1000.0, "north"]]}}),
                (T0, "late", {"age": 1000.0, "region": "north"})]
    write_collected(tmp_path / "c", records)
    out = run(drift_config({"drift": {"type": "data_drift", "production": prod(),
                                      "reference": REF,
                                      "metric_thresholds": {"numerical": {
                                          "normalized_wasserstein_distance": 0.1}}}}),
              {"collected": tmp_path / "c", "reference": tmp_path / "ref.csv"}, tmp_path / "o")
    sig = out["signals"]["drift"]
    assert sig["rows"] == {"production": 300, "reference": 2000}
    assert out["breached"] == ["drift"]
    by = {(m["feature"], m["metric"]): m for m in sig["metrics"]}
    assert "label" not in {f for f, _ in by}    # the target column is not a feature
    # the sample standard deviation, as Spark's stddev in Azure's component
    nwd = stats.wasserstein_distance(ref["age"], shifted) / np.std(ref["age"], ddof=1)
    assert by[("age", "normalized_wasserstein_distance")]["value"] == pytest.approx(nwd)
    assert by[("age", "normalized_wasserstein_distance")]["breached"] is True
    ks = stats.ks_2samp(ref["age"], shifted).pvalue
    assert by[("age", "two_sample_kolmogorov_smirnov_test")]["value"] == pytest.approx(ks,
                                                                                        abs=1e-9)
    cats = ["east", "north", "south", "west"]
    rc = np.array([np.sum(ref["region"] == c) for c in cats], dtype=float)
    pc = np.array([np.sum(regions == c) for c in cats], dtype=float)
    js = jensenshannon(rc / rc.sum(), pc / pc.sum(), base=2)
    assert by[("region", "jensen_shannon_distance")]["value"] == pytest.approx(js, rel=1e-6)
    written = json.loads((tmp_path / "o" / "signals.json").read_text())
    assert written["breached"] == ["drift"]
    assert {h["feature"] for h in written["signals"]["drift"]["histograms"]} == {"age",
                                                                                 "region"}
    metrics = metrics_of(out)
    assert metrics["drift.age.normalized_wasserstein_distance"] == pytest.approx(nwd)


def test_traffic_from_the_reference_distribution_breaches_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ref = reference_csv(tmp_path / "ref.csv", rng)
    pick = rng.choice(len(ref["age"]), 500, replace=False)
    # one request with many rows (Azure's split form) and single-row requests
    rows = [[float(ref["age"][i]), str(ref["region"][i])] for i in pick]
    records = [(T0 - 600, "batch", {"input_data": {"columns": ["age", "region"],
                                                    "data": rows[:400]}})]
    records += [(T0 - 300 + i, f"one{i}", [{"age": a, "region": r}])
                for i, (a, r) in enumerate(rows[400:])]
    write_collected(tmp_path / "c", records)
    out = run(drift_config({
        "drift": {"type": "data_drift", "production": prod(), "reference": REF},
        "quality": {"type": "data_quality", "production": prod(), "reference": REF}}),
        {"collected": tmp_path / "c", "reference": tmp_path / "ref.csv"}, tmp_path / "o")
    assert out["signals"]["drift"]["rows"]["production"] == 500
    assert out["breached"] == []
    assert all(not m["breached"] for s in out["signals"].values() for m in s["metrics"])


def test_quality_breaches_on_injected_nulls_and_out_of_range_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    reference_csv(tmp_path / "ref.csv", rng)
    rows: list[dict[str, Any]] = [{"age": 30.0, "region": "north"} for _ in range(90)]
    rows += [{"age": None, "region": "south"} for _ in range(5)]         # nulls
    rows += [{"age": 75.0, "region": "atlantis"} for _ in range(4)]      # out of bounds
    rows += [{"age": "forty", "region": "east"}]                         # wrong type
    write_collected(tmp_path / "c", [(T0 - 60, "q", {"data": rows})])
    out = run(drift_config({"quality": {"type": "data_quality", "production": prod(),
                                        "reference": REF}}),
              {"collected": tmp_path / "c", "reference": tmp_path / "ref.csv"}, tmp_path / "o")
    by = {(m["feature"], m["metric"]): m for m in out["signals"]["quality"]["metrics"]}
    assert by[("age", "null_value_rate")]["value"] == pytest.approx(5 / 100)
    assert by[("age", "data_type_error_rate")]["value"] == pytest.approx(1 / 100)
    assert by[("age", "out_of_bounds_rate")]["value"] > 0
    assert by[("region", "out_of_bounds_rate")]["value"] == pytest.approx(4 / 100)
    assert by[("region", "null_value_rate")]["value"] == 0
    assert out["breached"] == ["quality"]
    assert out["signals"]["quality"]["breached_features"] == ["age", "region"]


def test_model_performance_joins_predictions_with_ground_truth(tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 200)
    predicted = np.where(rng.random(200) < 0.8, truth, 1 - truth)
    write_collected(tmp_path / "c", [(T0 - 100 + i / 10, f"req{i}", [int(p)])
                                     for i, p in enumerate(predicted)])
    gt = tmp_path / "gt"
    gt.mkdir()
    # ground truth as JSON lines, in another order, with one id the monitor never saw
    lines = [{"correlationid": f"req{i}", "is_fraud": int(t)} for i, t in enumerate(truth)]
    lines = lines[::-1] + [{"correlationid": "unknown", "is_fraud": 1}]
    (gt / "truth.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = run(drift_config({"perf": {
        "type": "model_performance", "metric_thresholds": {"classification": {"accuracy": 0.9}},
        "production": prod(context="model_outputs", prediction="prediction"),
        "reference": {"input": "gt", "collected": False, "context": "ground_truth",
                      "start": None, "end": None,
                      "columns": {"actual": "is_fraud", "correlation_id": "correlationid"}}}}),
        {"collected": tmp_path / "c", "gt": gt}, tmp_path / "o")
    sig = out["signals"]["perf"]
    assert sig["rows"]["joined"] == 200
    by = {m["metric"]: m for m in sig["metrics"]}
    assert by["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted))
    assert by["precision"]["value"] == pytest.approx(precision_score(truth, predicted))
    assert by["recall"]["value"] == pytest.approx(recall_score(truth, predicted))
    assert by["accuracy"]["breached"] is True and out["breached"] == ["perf"]


def test_language_model_token_and_latency_signals(tmp_path: Path) -> None:
    usage = [(10, 5), (20, 30), (7, 0), (100, 50)]
    write_collected(tmp_path / "c", [
        (T0 - 50 + i, f"c{i}", {"choices": [], "usage": {"prompt_tokens": p,
                                                         "completion_tokens": c,
                                                         "total_tokens": p + c}})
        for i, (p, c) in enumerate(usage)], latency=120.0)
    write_collected(tmp_path / "c", [(T0 - 10, "slow", {"error": {"message": "boom"}})],
                    latency=3000.0)
    out = run(drift_config({
        "tokens": {"type": "generation_token_statistics",
                   "production": prod(context="model_outputs"), "reference": None,
                   "metric_thresholds": {"max_total_tokens": 100}},
        "latency": {"type": "generation_latency", "production": prod(context="model_outputs"),
                    "reference": None, "metric_thresholds": {"p95_latency_ms": 1000}}}),
        {"collected": tmp_path / "c"}, tmp_path / "o")
    tokens = {m["metric"]: m for m in out["signals"]["tokens"]["metrics"]}
    assert tokens["total_token_count"]["value"] == sum(p + c for p, c in usage)
    assert tokens["total_prompt_tokens"]["value"] == 137
    assert tokens["max_total_tokens"]["value"] == 150 and tokens["max_total_tokens"]["breached"]
    lat = {m["metric"]: m for m in out["signals"]["latency"]["metrics"]}
    assert lat["p95_latency_ms"]["value"] == pytest.approx(
        np.percentile([120.0] * 4 + [3000.0], 95))
    assert out["breached"] == ["tokens", "latency"]


def test_a_signal_that_cannot_be_computed_says_why_and_the_others_still_run(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    reference_csv(tmp_path / "ref.csv", rng)
    write_collected(tmp_path / "c", [(T0 - 60, "a", {"age": 30.0, "region": "east"})])
    (tmp_path / "c" / "2026/12/01/09/data.jsonl").open("a").write('{"id": "cut", "ti')  # torn
    out = run(drift_config({
        "drift": {"type": "data_drift", "production": prod(), "reference": REF,
                  "features": ["age", "income"]},
        "quality": {"type": "data_quality", "production": prod(), "reference": REF}}),
        {"collected": tmp_path / "c", "reference": tmp_path / "ref.csv"}, tmp_path / "o")
    assert "income" in out["signals"]["drift"]["error"]
    assert out["signals"]["quality"]["rows"]["production"] == 1
    empty = run(drift_config({"drift": {"type": "data_drift", "reference": REF,
                                        "production": prod(start=T0 - 10)}}),
                {"collected": tmp_path / "c", "reference": tmp_path / "ref.csv"},
                tmp_path / "o2")
    assert "no rows" in empty["signals"]["drift"]["error"]


def test_tables_read_csv_jsonl_and_mltable_and_refuse_bad_files(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("x,y\n1,a\n2,\n")
    (tmp_path / "t" / "MLTable").write_text("paths:\n  - file: ./a.csv\n")
    table = D.read_table(tmp_path / "t")
    assert table.rows == 2 and list(table.columns["x"]) == [1.0, 2.0]
    assert list(table.columns["y"]) == ["a", None]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "MLTable").write_text("paths:\n  - file: ../../etc/passwd\n")
    with pytest.raises(InvalidInputError, match="leaves the MLTable's folder"):
        D.read_table(tmp_path / "bad")
    (tmp_path / "latin.csv").write_bytes("x\n\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        D.read_table(tmp_path / "latin.csv")
    (tmp_path / "rows.jsonl").write_text('{"x": 1}\n[1, 2]\n')
    with pytest.raises(InvalidInputError, match=r"rows.jsonl:2"):
        D.read_table(tmp_path / "rows.jsonl")
    with pytest.raises(InvalidInputError, match="data_collector"):
        D.read_collected(tmp_path / "nothing-here")


def test_the_module_exits_1_on_a_breach_and_0_otherwise(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    reference_csv(tmp_path / "ref.csv", rng)
    write_collected(tmp_path / "c", [(T0 - 60, "a", {"age": 500.0, "region": "east"})])
    config = drift_config({"quality": {"type": "data_quality", "production": prod(),
                                       "reference": REF}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    cmd = [sys.executable, "-m", "ember.monitoring.job", "--input",
           f"collected={tmp_path / 'c'}", "--input", f"reference={tmp_path / 'ref.csv'}",
           "--output", str(tmp_path / "o")]
    done = subprocess.run(cmd, env={**env, CONFIG_ENV: json.dumps(config)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "violating metric thresholds: quality" in done.stderr
    config["signals"]["quality"]["alert_enabled"] = False
    done = subprocess.run(cmd, env={**env, CONFIG_ENV: json.dumps(config)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_feature_attribution_drift_sees_the_model_lean_on_another_feature(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    n = 600
    ref_rows = rng.uniform(0, 1, (n, 3))
    # the training label follows x0; in production the model's predictions follow x2
    (tmp_path / "ref.csv").write_text("x0,x1,x2,label\n" + "".join(
        f"{a},{b},{c},{int(a > 0.5)}\n" for a, b, c in ref_rows))
    prod_rows = rng.uniform(0, 1, (n, 3))
    write_collected(tmp_path / "in", [(T0 - 500 + i / 2, f"r{i}", {"x0": a, "x1": b, "x2": c})
                                      for i, (a, b, c) in enumerate(prod_rows)])
    write_collected(tmp_path / "out", [(T0 - 500 + i / 2, f"r{i}", [int(c > 0.5)])
                                       for i, (_, _, c) in enumerate(prod_rows)])
    # the deployment's requests joined with its responses by request id
    signal = {"type": "feature_attribution_drift",
              "production": {**prod(context="model_inputs_outputs"), "input": "in",
                             "outputs_input": "out"},
              "reference": {**REF, "input": "ref"}}
    out = run(drift_config({"attribution": signal}),
              {"ref": tmp_path / "ref.csv", "in": tmp_path / "in", "out": tmp_path / "out"},
              tmp_path / "o")
    assert out["signals"]["attribution"]["rows"]["production"] == n
    (metric,) = out["signals"]["attribution"]["metrics"]
    assert metric["metric"] == "normalized_discounted_cumulative_gain"
    assert metric["value"] < 0.9 and metric["breached"] is True
    same = run(drift_config({"attribution": {**signal, "production": {**REF, "input": "ref"}}}),
               {"ref": tmp_path / "ref.csv"}, tmp_path / "o2")
    assert same["signals"]["attribution"]["metrics"][0]["value"] == pytest.approx(1.0)


def test_the_default_production_window_is_the_monitoring_frequency() -> None:
    from ember.engine.monitors import monitoring_frequency
    from ember.entities.schedules import CronTrigger, JobSchedule, RecurrenceTrigger

    def sched(trigger: Any) -> JobSchedule:
        return JobSchedule(name="m", trigger=trigger, creation_time=T0)

    assert monitoring_frequency(sched(CronTrigger(expression="0 * * * *")), T0) == 3600
    assert monitoring_frequency(sched(CronTrigger(expression="15 3 * * *",
                                                  start_time="2099-01-01T00:00:00")),
                                T0) == 86400
    assert monitoring_frequency(sched(RecurrenceTrigger(frequency="week", interval=2)),
                                T0) == 14 * 86400
