"""Ember: Azure ML v2 jobs and MLflow tracking on your own machines.

The user surface is re-exported lazily so that light processes (the job runner) can import
``ember.engine.runner`` without loading the SDK.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["AlertNotification", "BatchEndpoint", "CodeConfiguration", "Connection",
           "CronTrigger", "DataWindow", "Input", "JobSchedule", "MLClient",
           "ManagedOnlineDeployment", "ManagedOnlineEndpoint", "Model", "ModelBatchDeployment",
           "MonitorDefinition", "MonitorInputData", "MonitorSchedule", "MonitoringSignal",
           "MonitoringTarget", "Output", "RecurrencePattern", "RecurrenceTrigger",
           "ServerlessEndpoint", "TimeZone", "command", "dsl", "finetuning", "load_component",
           "load_job", "load_model", "sweep", "__version__"]

# name → the module defining it; a name mapped to itself (``dsl``) is that module.
_LAZY = {
    "MLClient": "ember.client.mlclient",
    "Input": "ember.client.builders",
    "Output": "ember.client.builders",
    "command": "ember.client.builders",
    "load_job": "ember.client.builders",
    "load_component": "ember.dsl",
    "Model": "ember.entities.models",
    "ManagedOnlineEndpoint": "ember.entities.online_endpoints",
    "ManagedOnlineDeployment": "ember.entities.online_endpoints",
    "CodeConfiguration": "ember.entities.online_endpoints",
    "BatchEndpoint": "ember.entities.batch_endpoints",
    "ModelBatchDeployment": "ember.entities.batch_endpoints",
    "ServerlessEndpoint": "ember.entities.serverless_endpoints",
    "Connection": "ember.entities.connections",
    "JobSchedule": "ember.entities.schedules",
    "CronTrigger": "ember.entities.schedules",
    "RecurrenceTrigger": "ember.entities.schedules",
    "RecurrencePattern": "ember.entities.schedules",
    "TimeZone": "ember.entities.schedules",
    "MonitorSchedule": "ember.entities.schedules",
    "MonitorDefinition": "ember.entities.monitors",
    "MonitoringTarget": "ember.entities.monitors",
    "MonitoringSignal": "ember.entities.monitors",
    "MonitorInputData": "ember.entities.monitors",
    "DataWindow": "ember.entities.monitors",
    "AlertNotification": "ember.entities.monitors",
    "load_model": "ember.client.models",
    "dsl": "ember.dsl",
    "sweep": "ember.sweep",
    "finetuning": "ember.finetuning",
}
# Names that are modules themselves (``from ember import dsl`` / ``sweep`` / ``finetuning``,
# like azure.ai.ml's dsl, sweep and finetuning).
_MODULES = {"dsl", "sweep", "finetuning"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ember' has no attribute {name!r}")
    import importlib

    imported = importlib.import_module(module)
    value = imported if name in _MODULES else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
