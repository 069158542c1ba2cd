"""Model monitors: what a schedule's ``create_monitor`` holds (``az ml schedule create`` with a
monitor definition; azure-ai-ml's ``MonitorDefinition``).

A monitor watches a target (an online deployment's collected payloads, or a model's data) with
signals, each comparing a production window with reference data against metric thresholds. Each
trigger runs one monitor job; a breach marks that job and fires the alert notification and its
actions (webhooks, email, and, beyond Azure, ``create_job`` to start a retraining job).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SIGNAL_TYPES = ("data_drift", "prediction_drift", "data_quality", "feature_attribution_drift",
                "model_performance", "custom", "generation_token_statistics",
                "generation_latency")
DATA_CONTEXTS = ("model_inputs", "model_outputs", "model_inputs_outputs", "training", "test",
                 "validation", "ground_truth")
ML_TASKS = ("classification", "regression", "question_answering")
DATA_TYPES = ("uri_folder", "uri_file", "mltable")


@dataclass
class DataWindow:
    """ISO 8601 durations (``P7D``, ``PT1H``); None size: everything before the offset."""

    lookback_window_size: str | None = None
    lookback_window_offset: str = "P0D"


@dataclass
class MonitorInputData:
    """``path`` is ``azureml:<asset>:<version>`` / ``azureml:<asset>@latest``, a datastore
    URI, or (at the client) a local path uploaded at create; None for a deployment's collected
    data, which the monitor finds itself."""

    path: str | None = None
    type: str = "uri_folder"
    # None: what the signal reads by default (its deployment's inputs, or its outputs for
    # prediction drift, model performance and the language-model signals).
    data_context: str | None = None
    data_window: DataWindow | None = None
    # Azure's data_column_names: target_column, prediction, correlation_id, actual ...
    data_column_names: dict[str, str] = field(default_factory=dict)
    pre_processing_component: str | None = None


@dataclass
class MonitoringSignal:
    type: str
    production_data: MonitorInputData | None = None
    reference_data: MonitorInputData | None = None
    # Feature names, or None for all (Azure's all_features / top_n_feature_importance).
    features: list[str] | None = None
    top_n_feature_importance: int | None = None
    # {numerical: {metric: t}, categorical: {...}} for drift and quality; {classification|
    # regression: {metric: t}} for model performance; {metric: t} for the others.
    metric_thresholds: dict[str, Any] = field(default_factory=dict)
    alert_enabled: bool = True
    # custom signals: the component to run (``azureml:<name>:<version>``), its data inputs
    # (``input_data``: input name → data) and literal inputs; ``metric_thresholds`` is
    # {metric_name: threshold}. The component writes ``signal_metrics``: a table of
    # ``group, metric_name, metric_value, threshold_value``.
    component_id: str | None = None
    input_data: dict[str, MonitorInputData] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MonitoringTarget:
    ml_task: str | None = None
    endpoint_deployment_id: str | None = None   # azureml:<endpoint>:<deployment>
    model_id: str | None = None                 # azureml:<model>:<version>

    @property
    def endpoint_and_deployment(self) -> tuple[str, str] | None:
        if not self.endpoint_deployment_id:
            return None
        endpoint, _, deployment = self.endpoint_deployment_id.removeprefix("azureml:") \
            .partition(":")
        return endpoint, deployment


@dataclass
class AlertAction:
    """Beyond Azure: what to do when a signal breaches. ``create_job`` is a job body (what
    ``POST /jobs`` takes) or ``azureml:<existing job>``, as a schedule's ``create_job``;
    ``signals`` limits it to those signals' breaches (None: any)."""

    action: str = "create_job"
    create_job: Any = None
    signals: list[str] | None = None


@dataclass
class AlertNotification:
    emails: list[str] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    actions: list[AlertAction] = field(default_factory=list)


@dataclass
class MonitorDefinition:
    monitoring_target: MonitoringTarget = field(default_factory=MonitoringTarget)
    monitoring_signals: dict[str, MonitoringSignal] = field(default_factory=dict)
    alert_notification: AlertNotification = field(default_factory=AlertNotification)
    # Azure's serverless Spark compute; kept, not used (monitors run as local jobs).
    compute: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorDefinition:
        def data(x: Any) -> MonitorInputData | None:
            if not isinstance(x, dict):
                return None
            x = dict(x)
            window = x.get("data_window")
            x["data_window"] = DataWindow(**window) if isinstance(window, dict) else None
            return MonitorInputData(**x)

        signals = {}
        for name, s in (d.get("monitoring_signals") or {}).items():
            s = dict(s)
            s["production_data"] = data(s.get("production_data"))
            s["reference_data"] = data(s.get("reference_data"))
            s["input_data"] = {k: data(v) for k, v in (s.get("input_data") or {}).items()}
            signals[name] = MonitoringSignal(**s)
        alert = dict(d.get("alert_notification") or {})
        alert["actions"] = [AlertAction(**a) for a in alert.get("actions") or []]
        return cls(monitoring_target=MonitoringTarget(**(d.get("monitoring_target") or {})),
                   monitoring_signals=signals,
                   alert_notification=AlertNotification(**alert),
                   compute=dict(d.get("compute") or {}))
