"""A schedule's ``create_monitor`` (Azure's monitor YAML) → MonitorDefinition.

Every error is a SpecError naming the file, line and key (``create_monitor.monitoring_signals.
drift.metric_thresholds.numerical.jensen_shannon_distnce``), with a hint. The server checks a
definition sent as JSON with the same code (``monitor_from_dict``), so its errors name the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ember.entities.monitors import (
    DATA_CONTEXTS,
    DATA_TYPES,
    ML_TASKS,
    SIGNAL_TYPES,
    AlertAction,
    AlertNotification,
    DataWindow,
    MonitorDefinition,
    MonitoringSignal,
    MonitoringTarget,
    MonitorInputData,
)
from ember.specs._schema import Ctx, Section, plain

MONITOR_KEYS = ("compute", "monitoring_target", "monitoring_signals", "alert_notification")
SIGNAL_KEYS = ("type", "production_data", "reference_data", "features", "metric_thresholds",
               "alert_enabled", "component_id", "input_data", "inputs", "data_segment")
CUSTOM_KEYS = ("type", "component_id", "input_data", "inputs", "metric_thresholds",
               "alert_enabled")
DATA_KEYS = ("input_data", "data_context", "pre_processing_component", "data_window",
             "data_column_names")

_DRIFT_NUMERICAL = ("jensen_shannon_distance", "normalized_wasserstein_distance",
                    "population_stability_index", "two_sample_kolmogorov_smirnov_test")
_DRIFT_CATEGORICAL = ("jensen_shannon_distance", "population_stability_index",
                      "pearsons_chi_squared_test", "chi_squared_test")
_QUALITY = ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate")
TOKEN_METRICS = ("total_token_count", "total_prompt_tokens", "total_completion_tokens",
                 "average_total_tokens", "max_total_tokens")
LATENCY_METRICS = ("average_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
                   "max_latency_ms")
# Per signal type: the groups of metric_thresholds and each group's metric names.
THRESHOLDS: dict[str, dict[str, tuple[str, ...]]] = {
    "data_drift": {"numerical": _DRIFT_NUMERICAL, "categorical": _DRIFT_CATEGORICAL},
    "prediction_drift": {"numerical": _DRIFT_NUMERICAL, "categorical": _DRIFT_CATEGORICAL},
    "data_quality": {"numerical": _QUALITY, "categorical": _QUALITY},
    "model_performance": {"classification": ("accuracy", "precision", "recall"),
                          "regression": ("mae", "mse", "rmse")},
}
FLAT_THRESHOLDS: dict[str, tuple[str, ...]] = {
    "feature_attribution_drift": ("normalized_discounted_cumulative_gain",),
    "generation_token_statistics": TOKEN_METRICS,
    "generation_latency": LATENCY_METRICS,
}
_DURATION = re.compile(r"^P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def monitor_from_section(sec: Section, *, job_bodies: bool = False) -> MonitorDefinition:
    """``job_bodies``: alert actions' ``create_job`` are already submission bodies (the REST
    API's form), kept as they are, not job files."""
    sec.check_keys(MONITOR_KEYS)
    target_sec = sec.section("monitoring_target", required=True)
    assert target_sec is not None
    target = _target(target_sec)
    signals: dict[str, MonitoringSignal] = {}
    signals_sec = sec.section("monitoring_signals")
    if signals_sec is not None:
        for name in signals_sec.data:
            if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][\w.-]*$", name):
                signals_sec.fail(name, f"signal name {name!r} must be letters, digits, "
                                       "'-', '_' or '.'")
            sub = signals_sec.section(name, required=True)
            assert sub is not None
            signals[name] = _signal(sub, target)
    elif target.endpoint_deployment_id is None:
        sec.fail("monitoring_signals", "is required when monitoring_target names no "
                 "endpoint_deployment_id", "the out-of-box signals watch a deployment's "
                 "collected data")
    alert_sec = sec.section("alert_notification")
    compute = sec.section("compute")
    return MonitorDefinition(
        monitoring_target=target, monitoring_signals=signals,
        alert_notification=(_alerts(alert_sec, job_bodies) if alert_sec
                            else AlertNotification()),
        compute=plain(compute.data) if compute else {})


def monitor_from_dict(data: Any, source: str = "create_monitor") -> MonitorDefinition:
    """A definition sent as JSON (the REST body), checked as the YAML is."""
    return monitor_from_section(Section(Ctx(source, Path.cwd()), data, "create_monitor"),
                                job_bodies=True)


def _target(sec: Section) -> MonitoringTarget:
    sec.check_keys(("ml_task", "endpoint_deployment_id", "model_id"))
    task = sec.get_choice("ml_task", ML_TASKS)
    deployment = sec.get_str("endpoint_deployment_id")
    if deployment is not None:
        ref = deployment.removeprefix("azureml:")
        if not re.match(r"^[A-Za-z0-9][\w-]*:[A-Za-z0-9][\w-]*$", ref):
            sec.fail("endpoint_deployment_id", f"{deployment!r} is not "
                     "azureml:<endpoint>:<deployment>")
        deployment = f"azureml:{ref}"
    model = sec.get_str("model_id")
    if model is not None and not model.startswith("azureml:"):
        sec.fail("model_id", f"{model!r} is not azureml:<model>:<version>")
    if deployment is None and model is None:
        sec.fail("endpoint_deployment_id", "monitoring_target needs endpoint_deployment_id or "
                 "model_id")
    return MonitoringTarget(ml_task=task, endpoint_deployment_id=deployment, model_id=model)


def _signal(sec: Section, target: MonitoringTarget) -> MonitoringSignal:
    sec.check_keys(SIGNAL_KEYS)
    kind = sec.get_choice("type", SIGNAL_TYPES, required=True)
    assert kind is not None
    if kind == "custom":
        return _custom(sec)
    for key in ("input_data", "inputs", "data_segment", "component_id"):
        if sec.has(key):
            sec.fail(key, f"is not a key of a {kind} signal")
    production = _data(sec, "production_data")
    reference = _data(sec, "reference_data")
    watches_deployment = target.endpoint_deployment_id is not None
    if production is None and not watches_deployment:
        sec.fail("production_data", "is required when monitoring_target names no deployment")
    if kind in ("feature_attribution_drift", "model_performance") and reference is None:
        sec.fail("reference_data", f"is required for a {kind} signal",
                 "training data with data_column_names.target_column"
                 if kind == "feature_attribution_drift" else
                 "ground truth with data_column_names.actual and correlation_id")
    if reference is None and not watches_deployment and kind in (
            "data_drift", "prediction_drift", "data_quality"):
        sec.fail("reference_data", f"is required for a {kind} signal on a model")
    if kind == "feature_attribution_drift":
        assert reference is not None
        if "target_column" not in reference.data_column_names:
            sec.fail("reference_data", "needs data_column_names.target_column",
                     "the column the model predicts")
    if kind == "model_performance":
        assert reference is not None
        cols = reference.data_column_names
        if not ({"actual", "target_column"} & set(cols)) or "correlation_id" not in cols:
            sec.fail("reference_data", "needs data_column_names.actual (or target_column) and "
                     "correlation_id, to join the ground truth with the predictions")
    features, top_n = _features(sec)
    return MonitoringSignal(type=kind, production_data=production, reference_data=reference,
                            features=features, top_n_feature_importance=top_n,
                            metric_thresholds=_thresholds(sec, kind),
                            alert_enabled=sec.get_bool("alert_enabled", True))


def _custom(sec: Section) -> MonitoringSignal:
    """``type: custom``: a component whose output ``signal_metrics`` holds the metrics."""
    sec.check_keys(CUSTOM_KEYS)
    component = sec.get_str("component_id", required=True) or ""
    if not component.startswith("azureml:") or len(component) == len("azureml:"):
        sec.fail("component_id", f"{component!r} is not azureml:<component>:<version>",
                 "register the component first (ember component create)")
    data: dict[str, MonitorInputData] = {}
    data_sec = sec.section("input_data")
    if data_sec is None or not data_sec.data:
        sec.fail("input_data", "is required: the component's data inputs, by input name")
    for name in data_sec.data:
        one = _data(data_sec, str(name))
        assert one is not None
        if one.path is None:
            data_sec.fail(name, "needs input_data.path (a data asset or datastore URI)")
        data[str(name)] = one
    literals = sec.section("inputs")
    thresholds: dict[str, Any] = {}
    value = sec.get("metric_thresholds")
    if value is not None:
        if not isinstance(value, list):
            sec.fail("metric_thresholds", "must be a list of {metric_name, threshold}")
        for i, item in enumerate(value):
            if (not isinstance(item, dict) or not isinstance(item.get("metric_name"), str)
                    or isinstance(item.get("threshold"), bool)
                    or not isinstance(item.get("threshold"), int | float)):
                sec.fail("metric_thresholds", f"item {i} must be {{metric_name: <name>, "
                         "threshold: <number>}")
            thresholds[item["metric_name"]] = float(item["threshold"])
    return MonitoringSignal(type="custom", component_id=component, input_data=data,
                            inputs=plain(literals.data) if literals else {},
                            metric_thresholds=thresholds,
                            alert_enabled=sec.get_bool("alert_enabled", True))


def _data(parent: Section, key: str) -> MonitorInputData | None:
    sec = parent.section(key)
    if sec is None:
        return None
    sec.check_keys(DATA_KEYS)
    if sec.has("pre_processing_component"):
        sec.fail("pre_processing_component", "is not supported by Ember yet",
                 "Ember reads a deployment's collected JSON lines itself; give a data asset of "
                 "tabular files (CSV, Parquet, JSON lines, MLTable) otherwise")
    context = sec.get_choice("data_context", DATA_CONTEXTS)
    path, kind = None, "uri_folder"
    data_sec = sec.section("input_data")
    if data_sec is not None:
        data_sec.check_keys(("path", "type"))
        path = data_sec.get_str("path", required=True)
        assert path is not None
        if not (path.startswith("azureml:") or "://" in path):
            data_sec.fail("path", f"{path!r} is a local path",
                          "register it first (ember data create) and give "
                          "azureml:<name>:<version>, or give a datastore URI")
        kind = data_sec.get_choice("type", DATA_TYPES, "uri_folder") or "uri_folder"
    elif key == "reference_data":
        sec.fail("input_data", "is required in reference_data")
    window = None
    window_sec = sec.section("data_window")
    if window_sec is not None:
        window_sec.check_keys(("lookback_window_size", "lookback_window_offset",
                               "window_start", "window_end"))
        for bad in ("window_start", "window_end"):
            if window_sec.has(bad):
                window_sec.fail(bad, "fixed windows are not supported yet",
                                "use lookback_window_size and lookback_window_offset")
        size = _duration(window_sec, "lookback_window_size")
        offset = _duration(window_sec, "lookback_window_offset") or "P0D"
        window = DataWindow(lookback_window_size=size, lookback_window_offset=offset)
    return MonitorInputData(path=path, type=kind, data_context=context,
                            data_window=window,
                            data_column_names=sec.get_str_map("data_column_names"))


def _duration(sec: Section, key: str) -> str | None:
    text = sec.get_str(key)
    if text is not None and not _DURATION.match(text.upper()):
        sec.fail(key, f"{text!r} is not an ISO 8601 duration", "e.g. P7D, PT1H or P1DT12H")
    return text.upper() if text else None


def _features(sec: Section) -> tuple[list[str] | None, int | None]:
    value = sec.get("features")
    if value is None or value == "all_features":
        return None, None
    if isinstance(value, list):
        if not value or any(not isinstance(f, str) or not f for f in value):
            sec.fail("features", "must be a non-empty list of feature names")
        return [str(f) for f in value], None
    sub = sec.section("features")
    assert sub is not None
    sub.check_keys(("top_n_feature_importance",))
    return None, sub.get_int("top_n_feature_importance", minimum=1)


def _number(sec: Section, key: str) -> float:
    value = sec.get_number(key)
    if value is None:
        sec.fail(key, "must be a number")
    return value


def _thresholds(sec: Section, kind: str) -> dict[str, Any]:
    value = sec.get("metric_thresholds")
    if value is None:
        return {}
    if isinstance(value, list):   # [{applicable_feature_type, metric_name, threshold}]
        value = _threshold_list(sec, value)
        sec = Section(sec.ctx, {"metric_thresholds": value}, sec.path,
                      sec.line("metric_thresholds"))
    sub = sec.section("metric_thresholds")
    assert sub is not None
    if kind in FLAT_THRESHOLDS:
        names = FLAT_THRESHOLDS[kind]
        sub.check_keys(names)
        return {k: _number(sub, k) for k in sub.data}
    groups = THRESHOLDS[kind]
    sub.check_keys(tuple(groups))
    out: dict[str, Any] = {}
    for group in sub.data:
        g = sub.section(group, required=True)
        assert g is not None
        g.check_keys(groups[group])
        out[group] = {("pearsons_chi_squared_test" if k == "chi_squared_test" else k):
                      _number(g, k) for k in g.data}
    return out


def _threshold_list(sec: Section, items: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "metric_name" not in item or "threshold" not in item:
            sec.fail("metric_thresholds", f"item {i} must be {{metric_name, threshold}} "
                     "(and applicable_feature_type for drift and quality)")
        group = item.get("applicable_feature_type")
        target = out.setdefault(str(group), {}) if group else out
        target[str(item["metric_name"])] = item["threshold"]
    return out


def _alerts(sec: Section, job_bodies: bool) -> AlertNotification:
    sec.check_keys(("emails", "webhooks", "actions"))
    emails = _str_list(sec, "emails")
    for i, address in enumerate(emails):
        if not _EMAIL.match(address):
            sec.fail("emails", f"item {i}: {address!r} is not an email address")
    webhooks = _str_list(sec, "webhooks")
    for i, url in enumerate(webhooks):
        if not re.match(r"^https?://[^\s/]+", url):
            sec.fail("webhooks", f"item {i} is not an http(s) URL")
    actions: list[AlertAction] = []
    items = sec.get("actions")
    if items is not None:
        if not isinstance(items, list):
            sec.fail("actions", "must be a list of {action: create_job, create_job: ...}")
        for i, item in enumerate(items):
            sub = Section(sec.ctx, item if isinstance(item, dict) else {},
                          sec.key_path("actions") + f"[{i}]", sec.line("actions"))
            if not isinstance(item, dict):
                sub.fail("action", "must be a mapping {action: create_job, create_job: ...}")
            sub.check_keys(("action", "create_job", "signals"))
            sub.get_choice("action", ("create_job",), required=True)
            if not sub.has("create_job"):
                sub.fail("create_job", "is required: a job file, an inline job or "
                         "azureml:<existing job>")
            if job_bodies:
                body = sub.section("create_job")
                if body is None:
                    sub.fail("create_job", "must be a job body")
                actions.append(AlertAction(action="create_job", create_job=plain(body.data),
                                           signals=_str_list(sub, "signals") or None))
                continue
            from ember.specs.schedules import create_job_of

            job, over = create_job_of(sub)
            if isinstance(job, str):
                sub.fail("create_job", "must be a job file or an inline job",
                         "an alert action starts a new job from its definition")
            if over:
                sub.fail("create_job", "overrides are not supported in an alert action",
                         "name the job file or azureml:<job> directly")
            signals = _str_list(sub, "signals") or None
            actions.append(AlertAction(action="create_job", create_job=job, signals=signals))
    return AlertNotification(emails=emails, webhooks=webhooks, actions=actions)


def _str_list(sec: Section, key: str) -> list[str]:
    value = sec.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        if key == "emails" and value == "azmonitoring":
            sec.fail(key, "'azmonitoring' (Azure Monitor) is not available in Ember",
                      "list email addresses or webhooks")
        value = [value]
    if not isinstance(value, list) or any(not isinstance(v, str) or not v for v in value):
        sec.fail(key, "must be a list of strings")
    return [str(v) for v in value]


def monitor_to_dict(m: MonitorDefinition) -> dict[str, Any]:
    """The definition in the YAML's form (what ``monitor_from_dict`` reads back): the REST
    API's ``create_monitor`` both ways, and ``ember schedule show``."""
    def data(d: MonitorInputData | None) -> dict[str, Any] | None:
        if d is None:
            return None
        out: dict[str, Any] = {}
        if d.data_context:
            out["data_context"] = d.data_context
        if d.path:
            out["input_data"] = {"path": d.path, "type": d.type}
        if d.data_window is not None:
            out["data_window"] = {k: v for k, v in (
                ("lookback_window_size", d.data_window.lookback_window_size),
                ("lookback_window_offset", d.data_window.lookback_window_offset)) if v}
        if d.data_column_names:
            out["data_column_names"] = dict(d.data_column_names)
        return out

    signals: dict[str, Any] = {}
    for name, s in m.monitoring_signals.items():
        sig: dict[str, Any] = {"type": s.type, "alert_enabled": s.alert_enabled}
        if s.type == "custom":
            sig.update({"component_id": s.component_id,
                        "input_data": {k: data(v) for k, v in s.input_data.items()},
                        "metric_thresholds": [{"metric_name": k, "threshold": v}
                                              for k, v in s.metric_thresholds.items()]})
            if s.inputs:
                sig["inputs"] = dict(s.inputs)
            signals[name] = sig
            continue
        for key, value in (("production_data", data(s.production_data)),
                           ("reference_data", data(s.reference_data))):
            if value is not None:
                sig[key] = value
        if s.features is not None:
            sig["features"] = list(s.features)
        elif s.top_n_feature_importance is not None:
            sig["features"] = {"top_n_feature_importance": s.top_n_feature_importance}
        if s.metric_thresholds:
            sig["metric_thresholds"] = s.metric_thresholds
        signals[name] = sig
    target = {k: v for k, v in (("ml_task", m.monitoring_target.ml_task),
                                ("endpoint_deployment_id",
                                 m.monitoring_target.endpoint_deployment_id),
                                ("model_id", m.monitoring_target.model_id)) if v}
    alert = m.alert_notification
    out: dict[str, Any] = {"monitoring_target": target}
    if signals:
        out["monitoring_signals"] = signals
    if alert.emails or alert.webhooks or alert.actions:
        out["alert_notification"] = {
            "emails": list(alert.emails), "webhooks": list(alert.webhooks),
            "actions": [{"action": a.action, "create_job": a.create_job,
                         **({"signals": list(a.signals)} if a.signals else {})}
                        for a in alert.actions]}
    if m.compute:
        out["compute"] = dict(m.compute)
    return out
