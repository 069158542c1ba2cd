"""A monitor run: ``python -m ember.monitoring.job``, the command of the job each trigger of a
monitor schedule submits (``ember.engine.monitors`` writes its configuration).

It reads each signal's production window and reference data, computes the signal's metrics
(``ember.monitoring``), writes ``signals.json`` (every metric, threshold and breach, the per-
feature histograms the studio charts, row counts) to its output folder, logs every metric to the
job's MLflow run (``<signal>.<metric>`` for signal-wide ones, ``<signal>.<feature>.<metric>``
per feature), and, when a metric breaches its threshold with the signal's alert enabled, tags
the run ``azureml_modelmonitor_threshold_breached`` and exits 1 so the job is marked Failed, as
Azure marks a breaching monitor run. The server then sends the alerts.

The configuration (environment ``EMBER_MONITOR_CONFIG``, JSON)::

    {"monitor": <schedule>, "trigger_time": <ISO>, "ml_task": <task or null>,
     "signals": {<name>: {"type", "features", "top_n_feature_importance", "metric_thresholds",
                          "alert_enabled",
                          "production": {"input", "collected", "context", "start", "end",
                                         "columns", "outputs_input"},
                          "reference": {...} | null}}}

``input`` names a ``--input NAME=PATH`` argument; ``collected`` data is a deployment's payload
folder read in ``[start, end)`` (epoch seconds, None unbounded), else a table. Context
``model_inputs_outputs`` joins the requests (``input``) with the responses (``outputs_input``)
by request id.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ember.errors import EmberError, InvalidInputError
from ember.monitoring import data as D
from ember.monitoring.attribution import feature_attribution_drift
from ember.monitoring.drift import data_drift, prediction_drift
from ember.monitoring.genai import latency, token_statistics
from ember.monitoring.performance import model_performance
from ember.monitoring.quality import data_quality
from ember.monitoring.results import MetricResult, SignalResult, is_breached

CONFIG_ENV = "EMBER_MONITOR_CONFIG"
RESULT_FILE = "signals.json"
BREACH_TAG = "azureml_modelmonitor_threshold_breached"
BREACH_TEXT = ("has failed due to one or more features violating metric thresholds")
# Columns that describe a row rather than feed the model.
_NOT_FEATURES = {D.CORRELATION_ID}


def _table(spec: dict[str, Any], inputs: dict[str, Path], cache: dict[Any, D.Table]) -> D.Table:
    key = (spec["input"], spec.get("collected"), spec.get("context"), spec.get("start"),
           spec.get("end"))
    if key in cache:
        return cache[key]
    path = inputs.get(spec["input"])
    if path is None:
        raise InvalidInputError(f"input {spec['input']!r} was not given")
    if spec.get("collected") and spec.get("context") == "model_inputs_outputs":
        outputs = inputs.get(spec.get("outputs_input") or "")
        if outputs is None:
            raise InvalidInputError("model_inputs_outputs needs the deployment's collected "
                                    "responses too")
        table = D.join(D.read_collected(path, spec.get("start"), spec.get("end")),
                       D.read_collected(outputs, spec.get("start"), spec.get("end"),
                                        context="model_outputs"))
    elif spec.get("collected"):
        table = D.read_collected(path, spec.get("start"), spec.get("end"),
                                 context=spec.get("context") or "model_inputs")
    else:
        table = D.read_table(path)
    cache[key] = table
    return table


def _features(table: D.Table, signal: dict[str, Any], exclude: set[str]) -> list[str]:
    chosen = signal.get("features")
    if chosen:
        return list(chosen)
    return [c for c in table.columns if c not in _NOT_FEATURES | exclude]


def _importances(table: D.Table, features: list[str], target: str,
                 task: str | None) -> dict[str, float]:
    """Feature importances of a surrogate tree ensemble fitted to ``target`` (Azure fits a
    LightGBM surrogate and explains it with SHAP; the ranking is what NDCG compares)."""
    try:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    except ImportError:
        raise EmberError("feature attribution drift needs scikit-learn "
                         "(pip install scikit-learn)") from None
    if target not in table:
        raise InvalidInputError(f"feature attribution drift: no {target!r} column")
    x = np.column_stack([_encoded(table.columns[f]) for f in features])
    y = table.columns[target]
    keep = ~np.isnan(x).any(axis=1) & np.array([v is not None and v == v for v in y])
    if keep.sum() < 10:
        raise InvalidInputError("feature attribution drift: fewer than 10 complete rows")
    numeric_target = y.dtype.kind == "f"
    regression = task == "regression" or (task is None and numeric_target
                                          and len(np.unique(y[keep])) > 20)
    model = (RandomForestRegressor if regression else RandomForestClassifier)(
        n_estimators=50, max_depth=8, random_state=0, n_jobs=1)
    model.fit(x[keep], y[keep] if regression else y[keep].astype(str))
    return {f: float(v) for f, v in zip(features, model.feature_importances_)}


def _encoded(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return values
    codes = {v: i for i, v in enumerate(sorted({str(v) for v in values if v is not None}))}
    return np.array([np.nan if v is None else codes[str(v)] for v in values], dtype=np.float64)


def custom_signal(name: str, signal: dict[str, Any], path: Path) -> tuple[SignalResult,
                                                                          dict[str, int]]:
    """A custom signal's component output: rows of ``group, metric_name, metric_value,
    threshold_value`` (Azure's ``signal_metrics``); the monitor's own threshold for a metric
    wins over the row's. Alerts as the built-in metrics do (above the threshold, or below it
    for p-values, NDCG and the classification scores)."""
    table = D.read_table(path)
    missing = [c for c in ("metric_name", "metric_value") if c not in table]
    if missing:
        raise InvalidInputError(f"the component's signal_metrics has no column "
                                f"{', '.join(missing)} (it needs group, metric_name, "
                                "metric_value, threshold_value)")
    given = signal.get("metric_thresholds") or {}
    metrics: list[MetricResult] = []
    cols = table.columns
    for i in range(table.rows):
        metric = str(cols["metric_name"][i])
        try:
            value = float(cols["metric_value"][i])
        except (TypeError, ValueError):
            raise InvalidInputError(f"signal_metrics row {i + 1}: metric_value "
                                    f"{cols['metric_value'][i]!r} is not a number") from None
        row_limit = cols["threshold_value"][i] if "threshold_value" in table else None
        limit = given.get(metric)
        if limit is None and row_limit is not None and row_limit == row_limit:
            limit = float(row_limit)
        group = cols["group"][i] if "group" in table else None
        feature = None if group is None or group == "" or group != group else str(group)
        metrics.append(MetricResult(metric, value, feature, None, limit,
                                    is_breached(metric, value, limit)))
    return SignalResult(name, metrics), {"metrics": table.rows}


def compute_signal(name: str, signal: dict[str, Any], inputs: dict[str, Path],
                   cache: dict[Any, D.Table], ml_task: str | None) -> tuple[SignalResult,
                                                                           dict[str, int]]:
    kind = signal["type"]
    thresholds = signal.get("metric_thresholds") or None
    if kind == "custom":
        path = inputs.get(signal["custom_input"])
        if path is None:
            raise InvalidInputError(f"the output of custom signal {name!r} was not given")
        return custom_signal(name, signal, path)
    prod = _table(signal["production"], inputs, cache)
    rows = {"production": prod.rows}
    if kind in ("generation_token_statistics", "generation_latency"):
        rows = {"production": len(prod.records)}
        if kind == "generation_latency":
            return latency((r["latency_ms"] for r in prod.records),
                           metric_thresholds=thresholds, signal=name), rows
        return token_statistics((r["data"] for r in prod.records),
                                metric_thresholds=thresholds, signal=name), rows
    if prod.rows == 0:
        raise InvalidInputError("the production window has no rows")
    ref = _table(signal["reference"], inputs, cache)
    rows["reference"] = ref.rows
    ref_cols = signal["reference"].get("columns") or {}
    prod_cols = signal["production"].get("columns") or {}
    target = ref_cols.get("target_column")
    if kind in ("data_drift", "data_quality"):
        exclude = {target} if target else set()
        features = _features(ref, signal, exclude)
        fn = data_drift if kind == "data_drift" else data_quality
        result = fn(ref.columns, prod.columns, features=features, metric_thresholds=thresholds)
    elif kind == "prediction_drift":
        pred = prod_cols.get("prediction") or D.PREDICTION
        ref_pred = ref_cols.get("prediction") or target or pred
        if ref_pred not in ref:
            raise InvalidInputError(f"the reference data has no prediction column {ref_pred!r}"
                                    " (set reference_data.data_column_names.prediction)")
        result = prediction_drift({pred: ref.columns[ref_pred]}, prod.columns,
                                  features=[pred], metric_thresholds=thresholds)
    elif kind == "feature_attribution_drift":
        assert target is not None
        pred = prod_cols.get("prediction") or D.PREDICTION
        features = _features(ref, signal, {target})
        features = [f for f in features if f in prod]
        ref_imp = _importances(ref, features, target, ml_task)
        prod_imp = _importances(prod, features, pred if pred in prod else target, ml_task)
        top_n = signal.get("top_n_feature_importance")
        if top_n:
            keep = sorted(ref_imp, key=lambda f: -ref_imp[f])[:top_n]
            ref_imp = {f: ref_imp[f] for f in keep}
        limit = (thresholds or {}).get("normalized_discounted_cumulative_gain", 0.9)
        result = feature_attribution_drift(ref_imp, prod_imp, threshold=limit)
    elif kind == "model_performance":
        pred = prod_cols.get("prediction") or D.PREDICTION
        actual = str(ref_cols.get("actual") or ref_cols.get("target_column") or "")
        ref_id = ref_cols.get("correlation_id") or D.CORRELATION_ID
        prod_id = prod_cols.get("correlation_id") or D.CORRELATION_ID
        truth = D.Table({(D.CORRELATION_ID if k == ref_id else k): v
                         for k, v in ref.columns.items()}, ref.rows)
        pairs = D.Table({(D.CORRELATION_ID if k == prod_id else k): v
                         for k, v in prod.columns.items()}, prod.rows)
        joined = D.join(pairs, truth)
        rows["joined"] = joined.rows
        if pred not in joined or actual not in joined:
            raise InvalidInputError(f"model performance needs the production column {pred!r} "
                                    f"and the ground truth column {actual!r}")
        task: Literal["classification", "regression"] = (
            "regression" if ml_task == "regression" else "classification")
        limits = (thresholds or {}).get(task) if thresholds else None
        result = model_performance(task, joined.columns[actual], joined.columns[pred],
                                   metric_thresholds=limits)
    else:
        raise InvalidInputError(f"signal {name!r}: type {kind!r} is not computed by Ember")
    return SignalResult(name, result.metrics, result.histograms), rows


def run(config: dict[str, Any], inputs: dict[str, Path], output: Path) -> dict[str, Any]:
    cache: dict[Any, D.Table] = {}
    out: dict[str, Any] = {"monitor": config.get("monitor"),
                           "trigger_time": config.get("trigger_time"), "signals": {}}
    for name, signal in (config.get("signals") or {}).items():
        started = time.perf_counter()
        entry: dict[str, Any] = {"type": signal["type"],
                                 "alert_enabled": bool(signal.get("alert_enabled", True))}
        try:
            result, rows = compute_signal(name, signal, inputs, cache, config.get("ml_task"))
            entry.update(result.to_dict())
            entry["rows"] = rows
        except (InvalidInputError, EmberError) as exc:
            entry.update({"signal": name, "breached": False, "error": str(exc), "metrics": []})
        entry["seconds"] = round(time.perf_counter() - started, 3)
        out["signals"][name] = entry
        state = ("BREACHED" if entry["breached"] else "error" if entry.get("error") else "ok")
        print(f"[ember] signal {name} ({signal['type']}): {state}"
              + (f": {entry['error']}" if entry.get("error") else ""), flush=True)
    out["breached"] = [n for n, e in out["signals"].items()
                       if e["breached"] and e["alert_enabled"]]
    output.mkdir(parents=True, exist_ok=True)
    (output / RESULT_FILE).write_text(json.dumps(out, indent=1, allow_nan=False,
                                                 default=_json_default), encoding="utf-8")
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def metrics_of(result: dict[str, Any]) -> dict[str, float]:
    """The MLflow metrics of a run: one per (signal, feature, metric), NaN left out."""
    out: dict[str, float] = {}
    for name, entry in result["signals"].items():
        for m in entry.get("metrics") or []:
            value = m["value"]
            if value is None or value != value:
                continue
            key = ".".join(p for p in (name, m.get("feature"), m["metric"]) if p)
            out[_metric_key(key)] = float(value)
    return out


def _metric_key(key: str) -> str:
    # MLflow's metric names: alphanumerics, _ - . space / ; anything else becomes _.
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in key)[:250]


def _log(result: dict[str, Any]) -> None:
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    client = MlflowClient()
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in metrics_of(result).items()]
    tags = [RunTag("ember.monitor", str(result.get("monitor") or ""))]
    if result["breached"]:
        tags.append(RunTag(BREACH_TAG, f"The monitor run {BREACH_TEXT}: "
                           + ", ".join(result["breached"])))
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000], tags=tags if i == 0 else [])
    if not metrics:
        client.log_batch(run_id, tags=tags)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ember.monitoring.job")
    p.add_argument("--input", action="append", default=[], metavar="NAME=PATH")
    p.add_argument("--output", required=True)
    args = p.parse_args(argv)
    try:
        config = json.loads(os.environ[CONFIG_ENV])
    except (KeyError, ValueError):
        print(f"[ember] {CONFIG_ENV} is missing or not JSON", file=sys.stderr)
        return 2
    inputs = {}
    for item in args.input:
        name, _, path = item.partition("=")
        inputs[name] = Path(path)
    with D.gc_paused():   # this process reads its tables once and exits
        result = run(config, inputs, Path(args.output))
    try:
        _log(result)
    except Exception as exc:   # noqa: BLE001 - MLflow raises many kinds; the results are written
        print(f"[ember] could not log the metrics to MLflow: {exc}", file=sys.stderr)
    errors = [n for n, e in result["signals"].items() if e.get("error")]
    if result["breached"]:
        print(f"[ember] monitor {result['monitor']} {BREACH_TEXT}: "
              + ", ".join(result["breached"]), file=sys.stderr)
        return 1
    if errors and len(errors) == len(result["signals"]):
        print("[ember] no signal could be computed: " + "; ".join(
            f"{n}: {result['signals'][n]['error']}" for n in errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
